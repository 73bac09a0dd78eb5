"""An LLM judge for benchmarks scored by one: its settings, a cached chat-completions client, a scorer base.

- `settings`: which judge to ask (an OpenAI-compatible URL, a model, a key) and how (sampling
  settings), where the key may be sent; the defaults are VoiceBench's official judge.
- `transport`: one request, with a total deadline, no redirects and a bounded reply.
- `client`: many prompts a few at a time, retried with backoff, every verdict cached on disk.
- `scorer`: `JudgeScorer`, the base of a benchmark's judge-scored `BatchScorer`.

What a benchmark asks its judge and how it reads the answers belong to that benchmark's task (e.g.
VoiceBench's prompts and rating rules in `tasks/voicebench/judging.py`).
"""

from __future__ import annotations

from .client import JudgeClient, JudgeFailure, JudgeOutputError, JudgeVerdict
from .scorer import JudgeScorer, judgement
from .settings import (
    ALLOW_HTTP_KEY_ENV,
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    HOW_TO_CONFIGURE,
    MODEL_ENV,
    OPENAI_API_HOST,
    OPENAI_API_KEY_ENV,
    SYSTEM_MESSAGE,
    JudgeSettings,
    api_key_from_env,
    default_judge_cache_dir,
    is_loopback_host,
    is_openai_api,
)

__all__ = [
    "ALLOW_HTTP_KEY_ENV",
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "HOW_TO_CONFIGURE",
    "MODEL_ENV",
    "OPENAI_API_HOST",
    "OPENAI_API_KEY_ENV",
    "SYSTEM_MESSAGE",
    "JudgeClient",
    "JudgeFailure",
    "JudgeOutputError",
    "JudgeScorer",
    "JudgeSettings",
    "JudgeVerdict",
    "api_key_from_env",
    "default_judge_cache_dir",
    "is_loopback_host",
    "is_openai_api",
    "judgement",
]
