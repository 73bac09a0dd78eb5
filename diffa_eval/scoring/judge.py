"""The LLM judge of VoiceBench's open-ended subsets and sd-qa: prompts, a cached chat-completions client, parsers.

VoiceBench (`MatthewCYM/VoiceBench`, `api_judge.py`) asks gpt-4o-mini for n=3 answers (temperature 0.5,
top_p 0.95, max_tokens 1024) to one of two prompts per item: a 1-5 rating of an answer to an open
instruction (alpacaeval, commoneval, wildvoice) or a Yes/No verdict on an answer to a question with a
reference (sd-qa). `open_score` and `qa_vote` read those answers as its `open` and `qa` evaluators do.

`JudgeClient` sends the prompts to any OpenAI-compatible `POST {base_url}/chat/completions` endpoint, a
few at a time, retrying what can succeed on a second try, and keeps every verdict in an on-disk cache:
scoring the same outputs again makes no request, and an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import logging
import math
import os
import random
import re
import socket
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from typing import Any

from ..cache import cache_root
from ..errors import ConfigError, DiffaEvalError
from ..store import atomic_write_text

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
API_KEY_ENV = "DIFFA_EVAL_JUDGE_API_KEY"
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "DIFFA_EVAL_JUDGE_BASE_URL"
MODEL_ENV = "DIFFA_EVAL_JUDGE_MODEL"

SYSTEM_MESSAGE = "You are a helpful assistant who tries to help answer the user's question."
"""The system message of every VoiceBench judge request."""

OPEN_PROMPT_TEMPLATE = (
    "\n"
    "I need your help to evaluate the performance of several models in the speech interaction scenario. "
    "The models will receive a speech input from the user, which they need to understand and respond to "
    "with a speech output.\n"
    "Your task is to rate the model’s responses based on the provided user input transcription "
    "[Instruction] and the model’s output transcription [Response].\n"
    "\n"
    "Please evaluate the response on a scale of 1 to 5:\n"
    "1 point: The response is largely irrelevant, incorrect, or fails to address the user’s query. It "
    "may be off-topic or provide incorrect information.\n"
    "2 points: The response is somewhat relevant but lacks accuracy or completeness. It may only "
    "partially answer the user’s question or include extraneous information.\n"
    "3 points: The response is relevant and mostly accurate, but it may lack conciseness or include "
    "unnecessary details that don’t contribute to the main point.\n"
    "4 points: The response is relevant, accurate, and concise, providing a clear answer to the user’s "
    "question without unnecessary elaboration.\n"
    "5 points: The response is exceptionally relevant, accurate, and to the point. It directly addresses "
    "the user’s query in a highly effective and efficient manner, providing exactly the information "
    "needed.\n"
    "\n"
    "Below are the transcription of user’s instruction and models’ response:\n"
    "### [Instruction]: {prompt}\n"
    "### [Response]: {response}\n"
    "\n"
    "After evaluating, please output the score only without anything else.\n"
    "You don’t need to provide any explanations.\n"
)
"""VoiceBench's `meta_prompt_open`, character for character (curly apostrophes, leading and trailing newline)."""

QA_PROMPT_TEMPLATE = (
    "### Question\n"
    "{prompt}\n"
    "\n"
    "### Reference answer\n"
    "{reference}\n"
    "\n"
    "### Candidate answer\n"
    "{response}\n"
    "\n"
    "Is the candidate answer correct based on the question and reference answer? \n"
    'Please only output a single "Yes" or "No". Do not output anything else.'
)
"""VoiceBench's `meta_prompt_qa`, character for character (note the space before the first line break)."""

HOW_TO_CONFIGURE = (
    "No LLM judge is configured. For the official judge (gpt-4o-mini on the OpenAI API) set "
    f"{API_KEY_ENV} (or {OPENAI_API_KEY_ENV}) to an API key. For another OpenAI-compatible server, such as a "
    f"local vLLM server that needs no key, pass --judge-url (or set {BASE_URL_ENV}), e.g. "
    f"http://localhost:8000/v1, and --judge-model (or set {MODEL_ENV}) to the name of the model it serves."
)

MAX_RETRY_AFTER_S = 600.0
"""The longest wait a server's Retry-After header can impose before the next attempt."""

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_ERROR_BODY_CHARS = 300


def open_prompt(instruction: str, response: str) -> str:
    """The open-ended rubric prompt for one item, filled by plain replacement as VoiceBench does.

    Braces in the texts are safe. As in the official script, the placeholders are replaced one after
    the other, so an instruction that itself contains the text "{response}" gets the response there too.
    """
    return OPEN_PROMPT_TEMPLATE.replace("{prompt}", instruction).replace("{response}", response)


def qa_prompt(question: str, reference: str, response: str) -> str:
    """The sd-qa Yes/No prompt for one item, filled by plain replacement in VoiceBench's order."""
    return (
        QA_PROMPT_TEMPLATE.replace("{prompt}", question)
        .replace("{reference}", reference)
        .replace("{response}", response)
    )


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def api_key_from_env() -> str | None:
    """DIFFA_EVAL_JUDGE_API_KEY, else OPENAI_API_KEY; None when neither is set (or both are empty)."""
    return _env(API_KEY_ENV) or _env(OPENAI_API_KEY_ENV)


def default_judge_cache_dir() -> Path:
    """$DIFFA_EVAL_CACHE_DIR/judge, else ~/.cache/diffa-eval/judge."""
    return cache_root() / "judge"


@dataclass(frozen=True)
class JudgeSettings:
    """Which judge to ask and how: the defaults are VoiceBench's `api_judge.py` settings.

    The official script also passes frequency_penalty=0, presence_penalty=0 and stop=None, which are
    the API's defaults, so they are not sent. The sampling settings (model, system message, n,
    temperature, top_p, max_tokens) are part of every verdict's cache key; the transport settings
    (base URL, key, concurrency, timeout, retries, backoff) are not.
    """

    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key: str | None = field(default_factory=api_key_from_env, repr=False)
    system_message: str = SYSTEM_MESSAGE
    n: int = 3
    temperature: float = 0.5
    top_p: float = 0.95
    max_tokens: int = 1024
    concurrency: int = 4
    """Requests in flight at once (the official script uses a pool of 4 processes)."""
    timeout_s: float = 120.0
    """How long one request may take, connecting included."""
    max_retries: int = 10
    """Failed requests tolerated per prompt before it is given up as a `JudgeFailure`."""
    backoff_s: float = 1.0
    """Wait before the first retry; it doubles with each further retry, with random jitter."""
    max_backoff_s: float = 60.0
    """The longest wait between two retries, unless the server asks for more with Retry-After."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.strip().rstrip("/"))
        problems = []
        if not self.base_url.startswith(("http://", "https://")):
            problems.append(f"base_url must be an http(s) URL, not {self.base_url!r}")
        if not self.model:
            problems.append("model must not be empty")
        for name in ("n", "max_tokens", "concurrency"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.max_retries < 0:
            problems.append("max_retries must not be negative")
        if not self.timeout_s > 0:
            problems.append("timeout_s must be positive")
        if not (0 <= self.backoff_s <= self.max_backoff_s):
            problems.append("backoff_s and max_backoff_s must satisfy 0 <= backoff_s <= max_backoff_s")
        if problems:
            raise ConfigError("invalid judge settings: " + "; ".join(problems))

    @classmethod
    def from_env(cls, **overrides: Any) -> JudgeSettings:
        """Settings from DIFFA_EVAL_JUDGE_BASE_URL, DIFFA_EVAL_JUDGE_MODEL and the API key variables.

        Keyword overrides win over the environment; an override that is None counts as not given,
        so command-line options can be passed through as they are.
        """
        known = {spec.name for spec in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown judge setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {
            "base_url": _env(BASE_URL_ENV),
            "model": _env(MODEL_ENV),
            "api_key": api_key_from_env(),
        }
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**{name: value for name, value in values.items() if value is not None})

    @property
    def configured(self) -> bool:
        """True when requests can be sent: an API key is set, or the judge is a server other than OpenAI's."""
        return bool(self.api_key) or self.base_url != DEFAULT_BASE_URL

    @property
    def how_to_configure(self) -> str:
        """What to set for a judge, and what is set now."""
        key = "set" if self.api_key else "not set"
        return f"{HOW_TO_CONFIGURE} (Now: judge URL {self.base_url}, model {self.model}, API key {key}.)"

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    def request_sha256(self, prompt: str) -> str:
        """The identity of a judge request: sha256 of the model, system message, prompt and sampling settings."""
        identity = {
            "model": self.model,
            "system_message": self.system_message,
            "prompt": prompt,
            "n": int(self.n),
            "temperature": float(self.temperature),
            "top_p": float(self.top_p),
            "max_tokens": int(self.max_tokens),
        }
        text = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class JudgeVerdict:
    """The judge's n answers to one prompt, each stripped of surrounding whitespace as VoiceBench does."""

    texts: tuple[str, ...]
    model: str
    """The model that answered as the server named it (e.g. a dated snapshot), else the requested name."""
    prompt_sha256: str
    """`JudgeSettings.request_sha256` of the request: the model, system message, prompt and sampling settings."""
    cached: bool
    """True when the verdict was read from the cache instead of requested."""


@dataclass(frozen=True)
class JudgeFailure:
    """A prompt the judge could not answer; never cached, so the next batch tries it again."""

    message: str
    attempts: int
    """HTTP requests made for this prompt."""


class JudgeOutputError(DiffaEvalError, ValueError):
    """A judge answer that the official evaluator cannot read (no score in it), or no answers at all."""


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _FatalError(Exception):
    pass


class JudgeClient:
    """Asks an OpenAI-compatible chat-completions server for verdicts, with retries and an on-disk cache.

    Each verdict is cached in `cache_dir` as a small JSON file named by its `prompt_sha256`, written
    atomically as soon as it arrives, so concurrent clients and killed processes never leave a torn
    file, and re-scoring is offline and free. A changed sampling setting or judge model misses the
    cache. Failures are not cached.

    Servers that return fewer than n choices (some local servers ignore n) are asked again, for the
    missing number of choices, until n answers are collected; each such request counts as an attempt.
    """

    def __init__(self, settings: JudgeSettings, cache_dir: Path | None = None) -> None:
        self.settings = settings
        self.cache_dir = cache_dir if cache_dir is not None else default_judge_cache_dir()
        self._random = random.Random()

    def judge(self, prompt: str) -> JudgeVerdict | JudgeFailure:
        return self.judge_many([prompt])[0]

    def cached_verdict(self, prompt: str) -> JudgeVerdict | None:
        """The cached verdict for this prompt under the current settings, if any; never makes a request."""
        key = self.settings.request_sha256(prompt)
        path = self._cache_path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable cached judge verdict %s (%s)", path, error)
            return None
        texts = data.get("texts") if isinstance(data, dict) else None
        if not (
            isinstance(texts, list) and len(texts) == self.settings.n and all(isinstance(text, str) for text in texts)
        ):
            log.warning("ignoring cached judge verdict %s: it does not hold %d texts", path, self.settings.n)
            return None
        model = data.get("model")
        return JudgeVerdict(tuple(texts), model if isinstance(model, str) else self.settings.model, key, cached=True)

    def judge_many(self, prompts: Sequence[str]) -> list[JudgeVerdict | JudgeFailure]:
        """One verdict or failure per prompt, in order; cached prompts make no request.

        Identical prompts are judged once. Raises ConfigError when some prompts are not cached and no
        judge is configured.
        """
        unique = list(dict.fromkeys(prompts))
        outcomes: dict[str, JudgeVerdict | JudgeFailure] = {}
        pending = []
        for prompt in unique:
            verdict = self.cached_verdict(prompt)
            if verdict is None:
                pending.append(prompt)
            else:
                outcomes[prompt] = verdict
        if pending:
            if not self.settings.configured:
                raise ConfigError(
                    f"{len(pending)} of {len(unique)} judge prompts have no cached verdict in {self.cache_dir}. "
                    + self.settings.how_to_configure
                )
            log.info(
                "judging %d prompts with %s at %s (%d cached)",
                len(pending),
                self.settings.model,
                self.settings.base_url,
                len(unique) - len(pending),
            )
            outcomes.update(self._judge_uncached(pending))
        return [outcomes[prompt] for prompt in prompts]

    def _judge_uncached(self, prompts: Sequence[str]) -> dict[str, JudgeVerdict | JudgeFailure]:
        stop = threading.Event()
        executor = ThreadPoolExecutor(
            max_workers=min(self.settings.concurrency, len(prompts)), thread_name_prefix="diffa-eval-judge"
        )
        outcomes: dict[str, JudgeVerdict | JudgeFailure] = {}
        try:
            futures: dict[Future[JudgeVerdict | JudgeFailure], str] = {
                executor.submit(self._judge_one, prompt, stop): prompt for prompt in prompts
            }
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
        finally:
            stop.set()  # an interrupted batch: waiting workers give up at once, finished verdicts stay cached
            executor.shutdown(wait=False, cancel_futures=True)
        failed = sum(isinstance(outcome, JudgeFailure) for outcome in outcomes.values())
        if failed:
            log.warning(
                "%d of %d judge prompts failed; they are not cached and will be retried next time", failed, len(prompts)
            )
        return outcomes

    def _judge_one(self, prompt: str, stop: threading.Event) -> JudgeVerdict | JudgeFailure:
        wanted = self.settings.n
        texts: list[str] = []
        served_model: str | None = None
        attempts = failures = 0
        while len(texts) < wanted:
            if stop.is_set():
                return JudgeFailure("the batch was interrupted before this prompt was judged", attempts)
            attempts += 1
            try:
                model, answers = self._request(prompt, wanted - len(texts))
            except _FatalError as error:
                return JudgeFailure(str(error), attempts)
            except _RetryableError as error:
                failures += 1
                if failures > self.settings.max_retries:
                    return JudgeFailure(
                        f"gave up after {attempts} attempts ({self.settings.max_retries} retries); last error: {error}",
                        attempts,
                    )
                delay = self._retry_delay(failures, error.retry_after)
                log.info(
                    "judge request failed (%s); retry %d of %d in %.2f s",
                    error,
                    failures,
                    self.settings.max_retries,
                    delay,
                )
                if stop.wait(delay):
                    return JudgeFailure("the batch was interrupted before this prompt was judged", attempts)
                continue
            texts.extend(answers[: wanted - len(texts)])
            served_model = served_model or model
            if len(texts) < wanted:
                log.debug("the judge returned %d of %d answers; asking for the rest", len(texts), wanted)
        verdict = JudgeVerdict(
            tuple(texts), served_model or self.settings.model, self.settings.request_sha256(prompt), cached=False
        )
        self._store(prompt, verdict)
        return verdict

    def _retry_delay(self, failure_number: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (between half and all of the step), or longer if the server asks."""
        step = min(self.settings.max_backoff_s, self.settings.backoff_s * 2.0 ** min(failure_number - 1, 60))
        delay = step / 2 + self._random.uniform(0, step / 2)
        return max(delay, retry_after) if retry_after is not None else delay

    def _request(self, prompt: str, n: int) -> tuple[str | None, list[str]]:
        settings = self.settings
        body = {
            "model": settings.model,
            "messages": [
                {"role": "system", "content": settings.system_message},
                {"role": "user", "content": prompt},
            ],
            "n": n,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": settings.max_tokens,
        }
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "diffa-eval"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        request = urllib.request.Request(
            settings.endpoint, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _http_error(error, settings) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, socket.gaierror):
                raise _FatalError(f"cannot resolve the judge's host in {settings.endpoint}: {error.reason}") from None
            if isinstance(error.reason, TimeoutError):
                raise _RetryableError(f"no answer within {settings.timeout_s:g} s") from None
            raise _RetryableError(f"cannot reach {settings.endpoint}: {error.reason}") from None
        except TimeoutError:
            raise _RetryableError(f"no answer within {settings.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as error:
            raise _RetryableError(f"connection failed: {type(error).__name__}: {error}") from None
        return _parse_completion(raw)

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _store(self, prompt: str, verdict: JudgeVerdict) -> None:
        settings = self.settings
        record = {
            "prompt_sha256": verdict.prompt_sha256,
            "model": verdict.model,
            "texts": list(verdict.texts),
            "request": {
                "base_url": settings.base_url,
                "model": settings.model,
                "system_message": settings.system_message,
                "prompt": prompt,
                "n": settings.n,
                "temperature": settings.temperature,
                "top_p": settings.top_p,
                "max_tokens": settings.max_tokens,
            },
        }
        path = self._cache_path(verdict.prompt_sha256)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
        except OSError as error:
            log.warning("could not cache a judge verdict at %s: %s", path, error)


def _http_error(error: urllib.error.HTTPError, settings: JudgeSettings) -> Exception:
    detail, code = _error_detail(error)
    message = f"HTTP {error.code} from {settings.endpoint}: {detail}"
    if code == "insufficient_quota":  # OpenAI's 429 for an account out of credit: waiting does not help
        return _FatalError(message)
    if error.code in _RETRYABLE_STATUS or error.code >= 500:
        return _RetryableError(message, _retry_after_seconds(error.headers))
    if error.code in (401, 403):
        message += f" (check the API key in {API_KEY_ENV} or {OPENAI_API_KEY_ENV})"
    elif error.code == 404:
        message += f" (check --judge-url/{BASE_URL_ENV} and --judge-model/{MODEL_ENV}: model {settings.model!r})"
    return _FatalError(message)


def _error_detail(error: urllib.error.HTTPError) -> tuple[str, str | None]:
    """The error message of an error response (OpenAI's `error.message` when present) and its `error.code`."""
    try:
        raw = error.read()
    except (OSError, http.client.HTTPException):
        raw = b""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    code = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        text = str(payload["error"].get("message", text))
        code = payload["error"].get("code")
    return text[:_ERROR_BODY_CHARS] or str(error.reason), code if isinstance(code, str) else None


def _retry_after_seconds(headers: Message | Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), capped."""
    if headers is None:
        return None
    seconds: float | None = None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            seconds = float(milliseconds) / 1000
        except ValueError:
            seconds = None
    value = headers.get("retry-after")
    if seconds is None and value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _parse_completion(raw: bytes) -> tuple[str | None, list[str]]:
    """(model, stripped message texts) of a chat-completions response; anything else is retryable."""
    try:
        payload = json.loads(raw)
    except ValueError:
        raise _RetryableError(f"the response is not JSON: {raw[:_ERROR_BODY_CHARS]!r}") from None
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _RetryableError(f"the response has no choices: {raw[:_ERROR_BODY_CHARS]!r}")
    texts = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise _RetryableError(f"a choice has no message content: {raw[:_ERROR_BODY_CHARS]!r}")
        texts.append(content.strip())
    model = payload.get("model")
    return (model if isinstance(model, str) and model else None), texts


_RATING = re.compile(r"\[\[(\d+)\]\]")


def open_rating(text: str) -> float:
    """One judge answer to the open-ended rubric as VoiceBench's `open` evaluator reads it.

    The whole answer as a number (Python's `float`, so " 4 " and "4.5" are numbers too), else the first
    "[[n]]" in it; anything else raises JudgeOutputError, where the official evaluator stops. "nan" and
    "inf" parse as floats but are no rating: they raise too, as the official mean would be meaningless.
    """
    try:
        rating = float(text)
    except ValueError:
        match = _RATING.search(text)
        if match is None:
            raise JudgeOutputError(f"the judge's answer has no score: {text[:200]!r}") from None
        return float(int(match.group(1)))
    if not math.isfinite(rating):
        raise JudgeOutputError(f"the judge's answer is not a finite score: {text[:200]!r}")
    return rating


def open_score(texts: Iterable[str]) -> float:
    """The mean rating of judge answers (1-5); VoiceBench's subset score is this over all answers of all items."""
    ratings = [open_rating(text) for text in texts]
    if not ratings:
        raise JudgeOutputError("no judge answers to score")
    return math.fsum(ratings) / len(ratings)


def qa_vote(texts: Sequence[str]) -> bool:
    """VoiceBench's `qa` majority vote: True when the most frequent lowercased answer is exactly "yes".

    No stripping of punctuation: "Yes." is not "yes". On a tie for the most frequent answer (with n=3,
    only when all three answers differ, e.g. "Yes", "No", "Yes.") the official
    `max(set(answers), key=answers.count)` returns whichever tied answer the set yields first, which
    depends on Python's per-process string hash seed, so the official outcome of a tie is not
    reproducible; here a tie never counts as "yes".
    """
    if not texts:
        raise JudgeOutputError("no judge answers to vote on")
    counts = Counter(text.lower() for text in texts)
    most = max(counts.values())
    leaders = [answer for answer, count in counts.items() if count == most]
    return leaders == ["yes"]
