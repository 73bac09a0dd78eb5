"""The Hugging Face hub as a run sees it before any work: offline or not, reachable or not, what the cache holds.

Where the hub cannot be reached, huggingface_hub, transformers and datasets retry each request with backoff,
which costs minutes per file; a run asks once, with one short request (`unreachable`), and then works from
the local cache as `HF_HUB_OFFLINE=1` does (`work_offline`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

TIMEOUT_ENV = "DIFFA_EVAL_HUB_TIMEOUT"
DEFAULT_TIMEOUT_S = 10.0
"""How long the one request that tells whether the hub answers may take (`DIFFA_EVAL_HUB_TIMEOUT` overrides)."""

_answers: dict[str, str | None] = {}
"""Endpoint -> why it could not be reached (None: it answered), asked once per process."""


def is_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, or a run switched to the cache."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def cache_folder() -> Path:
    """The hub cache (HF_HUB_CACHE, else HF_HOME/hub)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def probe_timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(text) if text.strip() else DEFAULT_TIMEOUT_S
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %g", TIMEOUT_ENV, text, DEFAULT_TIMEOUT_S)
        return DEFAULT_TIMEOUT_S


def unreachable() -> str | None:
    """Why the hub cannot be reached (one request, no retries, at most `probe_timeout()` seconds), or None
    when it answers (with any status: an answer is all this asks)."""
    url = endpoint()
    if url not in _answers:
        from huggingface_hub import get_session

        try:
            get_session().head(url, timeout=probe_timeout())
            _answers[url] = None
        except Exception as error:  # connection refused, DNS failure, timeout, proxy error: all mean "no hub"
            _answers[url] = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return _answers[url]


def work_offline() -> None:
    """From now on, this process reads the hub cache only, as with HF_HUB_OFFLINE=1 (libraries imported
    later read the variables, those imported already their settings)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
        datasets_config.HF_DATASETS_OFFLINE = True  # type: ignore[attr-defined]


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of a model repository's `revision` (None: main), None when the cache has none."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError, or an id the hub client refuses: not cached either way
        return None
