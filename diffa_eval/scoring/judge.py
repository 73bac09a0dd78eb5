"""The LLM judge of VoiceBench's open-ended subsets and sd-qa: prompts, a cached chat-completions client, parsers.

VoiceBench (`MatthewCYM/VoiceBench`, `api_judge.py`) asks gpt-4o-mini for n=3 answers (temperature 0.5,
top_p 0.95, max_tokens 1024) to one of two prompts per item: a 1-5 rating of an answer to an open
instruction (alpacaeval, commoneval, wildvoice) or a Yes/No verdict on an answer to a question with a
reference (sd-qa). `open_score` and `qa_vote` read those answers as its `open` and `qa` evaluators do.

`JudgeClient` sends the prompts to any OpenAI-compatible `POST {base_url}/chat/completions` endpoint, a
few at a time, retrying what can succeed on a second try, and keeps every verdict in an on-disk cache:
scoring the same outputs again makes no request, and an interrupted batch resumes where it stopped.

An API key goes only where it was meant to: OPENAI_API_KEY only to the OpenAI API, any other judge
gets DIFFA_EVAL_JUDGE_API_KEY; redirects are never followed; a key is not sent in clear text (http)
to another machine unless DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY says so. Each request has a total deadline,
and an interrupted batch (Ctrl-C) stops its requests in flight at once.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import ipaddress
import json
import logging
import math
import os
import random
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..cache import cache_root
from ..errors import ConfigError, DiffaEvalError
from ..store import atomic_write_text

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPENAI_API_HOST = "api.openai.com"
DEFAULT_MODEL = "gpt-4o-mini"
API_KEY_ENV = "DIFFA_EVAL_JUDGE_API_KEY"
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "DIFFA_EVAL_JUDGE_BASE_URL"
MODEL_ENV = "DIFFA_EVAL_JUDGE_MODEL"
ALLOW_HTTP_KEY_ENV = "DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY"
"""Set to 1 to send the API key over plain http to a judge on another machine (a network you trust)."""

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
    f"http://localhost:8000/v1, and --judge-model (or set {MODEL_ENV}) to the name of the model it serves; "
    f"a server that needs a key gets {API_KEY_ENV} ({OPENAI_API_KEY_ENV} goes only to {OPENAI_API_HOST})."
)

MAX_RETRY_AFTER_S = 600.0
"""The longest wait a server's Retry-After header can impose before the next attempt."""

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_ERROR_BODY_CHARS = 300
_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""A judge's reply is a few KB; a larger one is refused rather than held in memory."""


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


def is_openai_api(base_url: str) -> bool:
    """True for an https URL on the OpenAI API host (its default port), the only place OPENAI_API_KEY goes."""
    parts = urllib.parse.urlsplit(base_url.strip())
    try:
        port = parts.port
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and parts.hostname == OPENAI_API_HOST and port in (None, 443)


def is_loopback_host(host: str) -> bool:
    """True when `host` names this machine by itself: "localhost" or a loopback address (127.0.0.0/8, ::1).

    The name is judged as written, never resolved: a name that resolves to a loopback address today may
    not tomorrow, so any other name counts as another machine.
    """
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def api_key_from_env(base_url: str = DEFAULT_BASE_URL) -> str | None:
    """The key for a judge at `base_url`: DIFFA_EVAL_JUDGE_API_KEY, else OPENAI_API_KEY for the OpenAI API only.

    OPENAI_API_KEY is set for many other tools, so sending it to whatever judge URL is configured
    would hand it to that server; a judge elsewhere gets a key only when DIFFA_EVAL_JUDGE_API_KEY is set.
    """
    explicit = _env(API_KEY_ENV)
    if explicit or not _env(OPENAI_API_KEY_ENV):
        return explicit
    if is_openai_api(base_url):
        return _env(OPENAI_API_KEY_ENV)
    log.info(
        "%s is sent only to %s, not to the judge at %s; set %s if that judge needs a key",
        OPENAI_API_KEY_ENV,
        OPENAI_API_HOST,
        base_url,
        API_KEY_ENV,
    )
    return None


def _normalized_url(url: str) -> str:
    """`url` without surrounding blanks or trailing slashes, its scheme and host in lower case."""
    parts = urllib.parse.urlsplit(url.strip())
    normalized = parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower())
    return urllib.parse.urlunsplit(normalized).rstrip("/")


def _has_valid_port(parts: urllib.parse.SplitResult) -> bool:
    try:
        parts.port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        return False
    return True


def _env_flag(name: str) -> bool:
    value = (_env(name) or "0").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {value!r}")


def default_judge_cache_dir() -> Path:
    """$DIFFA_EVAL_CACHE_DIR/judge, else ~/.cache/diffa-eval/judge."""
    return cache_root() / "judge"


@dataclass(frozen=True)
class JudgeSettings:
    """Which judge to ask and how: the defaults are VoiceBench's `api_judge.py` settings.

    The official script also passes frequency_penalty=0, presence_penalty=0 and stop=None, which are
    the API's defaults, so they are not sent. The judge's identity (its base URL) and the sampling
    settings (model, system message, n, temperature, top_p, max_tokens) are part of every verdict's
    cache key; the transport settings (key, concurrency, timeout, retries, backoff) are not.
    `from_env` reads the base URL, model and key from the environment; the key is sent as given. A run's
    judge (`RunOptions.judge`, `chosen`) holds no key: the scorer adds it from the environment per request.
    """

    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key: str | None = field(default=None, repr=False)
    system_message: str = SYSTEM_MESSAGE
    n: int = 3
    temperature: float = 0.5
    top_p: float = 0.95
    max_tokens: int = 1024
    concurrency: int = 4
    """Requests in flight at once (the official script uses a pool of 4 processes)."""
    timeout_s: float = 120.0
    """How long one request may take in all, from connecting to the last byte of the answer."""
    max_retries: int = 10
    """Failed requests tolerated per prompt before it is given up as a `JudgeFailure`."""
    backoff_s: float = 1.0
    """Wait before the first retry; it doubles with each further retry, with random jitter."""
    max_backoff_s: float = 60.0
    """The longest wait between two retries, unless the server asks for more with Retry-After."""
    allow_http_key: bool = False
    """Send the API key over plain http to a judge on another machine (anyone on the way can read it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", _normalized_url(self.base_url))
        problems = []
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"base_url must be an http(s) URL, not {self.base_url!r}")
        elif parts.username is not None or parts.password is not None:
            problems.append(f"base_url must not hold credentials; put the key in {API_KEY_ENV}")
        elif not _has_valid_port(parts):
            problems.append(f"base_url has an invalid port: {self.base_url!r}")
        elif (
            self.api_key and parts.scheme == "http" and not is_loopback_host(parts.hostname) and not self.allow_http_key
        ):
            problems.append(  # anyone on the way could read the key
                f"refusing to send the API key in clear text (http) to {parts.hostname}: use an https URL, "
                f"or set {ALLOW_HTTP_KEY_ENV}=1 if the network between here and there is trusted"
            )
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
        values: dict[str, Any] = {"base_url": _env(BASE_URL_ENV), "model": _env(MODEL_ENV)}
        values.update({name: value for name, value in overrides.items() if value is not None})
        if "api_key" not in values:
            values["api_key"] = api_key_from_env(values["base_url"] or DEFAULT_BASE_URL)
        if "allow_http_key" not in values:
            values["allow_http_key"] = _env_flag(ALLOW_HTTP_KEY_ENV)
        return cls(**{name: value for name, value in values.items() if value is not None})

    @classmethod
    def chosen(cls, url: str | None = None, model: str | None = None, **request_handling: Any) -> JudgeSettings:
        """The judge a run names: `url` and `model` where given, else DIFFA_EVAL_JUDGE_BASE_URL and
        DIFFA_EVAL_JUDGE_MODEL, else OpenAI's API and gpt-4o-mini. It holds no API key: the key is read
        from the environment when requests are sent (`with_key_from_env`), so it is never part of a run's options."""
        values: dict[str, Any] = {"base_url": url or _env(BASE_URL_ENV), "model": model or _env(MODEL_ENV)}
        values.update(request_handling)
        return cls(**{name: value for name, value in values.items() if value is not None})

    def with_key_from_env(self) -> JudgeSettings:
        """These settings with the API key this judge gets from the environment, unless they hold one already
        (see `api_key_from_env`), and DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY read likewise."""
        if self.api_key:
            return self
        allow_http_key = self.allow_http_key or _env_flag(ALLOW_HTTP_KEY_ENV)
        return replace(self, api_key=api_key_from_env(self.base_url), allow_http_key=allow_http_key)

    def identity(self) -> dict[str, str]:
        """The judge as runs record it (the manifest's `judge`): URL and model, never a key."""
        return {"url": self.base_url, "model": self.model}

    @property
    def configured(self) -> bool:
        """True when requests can be sent: an API key is set, or the judge is a server other than OpenAI's."""
        return bool(self.api_key) or not is_openai_api(self.base_url)

    @property
    def how_to_configure(self) -> str:
        """What to set for a judge, and what is set now."""
        key = "set" if self.api_key else "not set"
        return f"{HOW_TO_CONFIGURE} (Now: judge URL {self.base_url}, model {self.model}, API key {key}.)"

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    def request_sha256(self, prompt: str) -> str:
        """The identity of a judge request: sha256 of the judge, model, system message, prompt and sampling settings.

        Two servers may serve different models under one name, so the judge's base URL is part of the
        identity, except for the OpenAI API: its identity is as it was before the URL counted, so that
        verdicts cached earlier stay valid (a cached verdict is used only where the base URL recorded
        with it is this one, so one that another server gave under that key is never taken for OpenAI's).
        """
        identity: dict[str, Any] = {} if is_openai_api(self.base_url) else {"judge": self.base_url}
        identity |= {
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
    """`JudgeSettings.request_sha256` of the request: the judge, model, system message, prompt and sampling settings."""
    cached: bool
    """True when the verdict was read from the cache instead of requested."""
    endpoint: str
    """The chat-completions URL that gave the verdict."""


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


class _RequestGuard:
    """One request's total deadline: its socket is shut down when the deadline passes or its batch stops.

    A socket timeout bounds each read, not the request: a server that sends a byte now and then would
    hold a request open without end, and an interrupted batch would wait for its reads to time out.
    Shutting the socket down from another thread ends a connect, read or write in progress at once.
    The guard holds a duplicate of the socket, which stays valid when TLS takes the original over.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.expired = False
        self.interrupted = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._open = True
        self._timer = threading.Timer(timeout_s, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _RequestGuard:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._timer.cancel()
        with self._lock:
            self._open = False
            for duplicate in self._sockets:
                duplicate.close()
            self._sockets.clear()

    def interrupt(self) -> None:
        with self._lock:
            self.interrupted = True
            self._shut_down()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut_down()

    def _shut_down(self) -> None:
        for duplicate in self._sockets:
            with contextlib.suppress(OSError):  # not connected (yet, or any more): nothing to end
                duplicate.shutdown(socket.SHUT_RDWR)

    def _watch(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._open:
                raise OSError("the request is over")
            duplicate = sock.dup()
            self._sockets.append(duplicate)
            if self.expired or self.interrupted:
                duplicate.shutdown(socket.SHUT_RDWR)

    def create_connection(
        self, address: tuple[str, int], timeout: float | None = None, source_address: Any = None, *args: Any
    ) -> socket.socket:
        """socket.create_connection, with each socket under this guard before it connects."""
        host, port = address
        last_error: OSError | None = None
        for family, kind, protocol, _, socket_address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            remaining = self.deadline - time.monotonic()
            if remaining <= 0 or self.interrupted:
                break
            sock = socket.socket(family, kind, protocol)
            try:
                self._watch(sock)
                # http.client passes its own timeout, or a sentinel object when it has none
                sock.settimeout(min(timeout, remaining) if isinstance(timeout, (int, float)) else remaining)
                if source_address:
                    sock.bind(source_address)
                sock.connect(socket_address)
                return sock
            except OSError as error:
                sock.close()
                last_error = error
        if last_error is not None:
            raise last_error
        raise TimeoutError(f"no connection to {host}:{port} within {self.timeout_s:g} s")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, guard: _RequestGuard, **options: Any) -> None:
        super().__init__(host, **options)
        self._create_connection = guard.create_connection  # http.client makes its socket with this


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, guard: _RequestGuard, **options: Any) -> None:
        super().__init__(host, **options)
        self._create_connection = guard.create_connection


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, guard: _RequestGuard) -> None:
        super().__init__()
        self._guard = guard

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        guard = self._guard
        return self.do_open(lambda host, **options: _GuardedHTTPConnection(host, guard, **options), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, guard: _RequestGuard) -> None:
        super().__init__()
        self._guard = guard
        self._tls = ssl.create_default_context()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        guard, tls = self._guard, self._tls
        return self.do_open(
            lambda host, **options: _GuardedHTTPSConnection(host, guard, **{**options, "context": tls}), req
        )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are answers, not directions: following one would send the prompts and the key elsewhere."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class _Batch:
    """The requests of one `judge_many` call in flight; stopping it ends their waits and requests at once."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._guards: set[_RequestGuard] = set()

    def stop(self) -> None:
        with self._lock:
            self.stopped.set()
            for guard in self._guards:
                guard.interrupt()

    @contextlib.contextmanager
    def request(self, timeout_s: float) -> Iterator[_RequestGuard]:
        with _RequestGuard(timeout_s) as guard:
            with self._lock:
                if self.stopped.is_set():
                    guard.interrupt()
                self._guards.add(guard)
            try:
                yield guard
            finally:
                with self._lock:
                    self._guards.discard(guard)


class JudgeClient:
    """Asks an OpenAI-compatible chat-completions server for verdicts, with retries and an on-disk cache.

    Each verdict is cached in `cache_dir` as a small JSON file named by its `prompt_sha256`, written
    atomically as soon as it arrives, so concurrent clients and killed processes never leave a torn
    file, and re-scoring is offline and free. A changed judge URL, sampling setting or judge model
    misses the cache. Failures are not cached.

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
        request = data.get("request")
        judge = request.get("base_url") if isinstance(request, dict) else None
        if not isinstance(judge, str) or _normalized_url(judge) != self.settings.base_url:
            log.warning("ignoring cached judge verdict %s: another judge (%s) gave it", path, judge)
            return None
        model = data.get("model")
        return JudgeVerdict(
            tuple(texts),
            model if isinstance(model, str) else self.settings.model,
            key,
            cached=True,
            endpoint=self.settings.endpoint,
        )

    def judge_many(self, prompts: Sequence[str]) -> list[JudgeVerdict | JudgeFailure]:
        """One verdict or failure per prompt, in order; cached prompts make no request.

        Identical prompts are judged once. Raises ConfigError when some prompts are not cached and no
        judge is configured. An interruption (KeyboardInterrupt) ends the requests in flight at once;
        every verdict received before it is cached.
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
        batch = _Batch()
        executor = ThreadPoolExecutor(
            max_workers=min(self.settings.concurrency, len(prompts)), thread_name_prefix="diffa-eval-judge"
        )
        outcomes: dict[str, JudgeVerdict | JudgeFailure] = {}
        try:
            futures: dict[Future[JudgeVerdict | JudgeFailure], str] = {
                executor.submit(self._judge_one, prompt, batch): prompt for prompt in prompts
            }
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
        finally:
            # An interrupted batch: waiting workers give up and requests in flight end at once, so that the
            # workers (which the interpreter waits for at exit) are done in moments; finished verdicts stay cached.
            batch.stop()
            executor.shutdown(wait=False, cancel_futures=True)
        failed = sum(isinstance(outcome, JudgeFailure) for outcome in outcomes.values())
        if failed:
            log.warning(
                "%d of %d judge prompts failed; they are not cached and will be retried next time", failed, len(prompts)
            )
        return outcomes

    def _judge_one(self, prompt: str, batch: _Batch) -> JudgeVerdict | JudgeFailure:
        wanted = self.settings.n
        texts: list[str] = []
        served_model: str | None = None
        attempts = failures = 0
        while len(texts) < wanted:
            if batch.stopped.is_set():
                return JudgeFailure("the batch was interrupted before this prompt was judged", attempts)
            attempts += 1
            try:
                model, answers = self._request(prompt, wanted - len(texts), batch)
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
                if batch.stopped.wait(delay):
                    return JudgeFailure("the batch was interrupted before this prompt was judged", attempts)
                continue
            texts.extend(answers[: wanted - len(texts)])
            served_model = served_model or model
            if len(texts) < wanted:
                log.debug("the judge returned %d of %d answers; asking for the rest", len(texts), wanted)
        verdict = JudgeVerdict(
            tuple(texts),
            served_model or self.settings.model,
            self.settings.request_sha256(prompt),
            cached=False,
            endpoint=self.settings.endpoint,
        )
        self._store(prompt, verdict)
        return verdict

    def _retry_delay(self, failure_number: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (between half and all of the step), or longer if the server asks."""
        step = min(self.settings.max_backoff_s, self.settings.backoff_s * 2.0 ** min(failure_number - 1, 60))
        delay = step / 2 + self._random.uniform(0, step / 2)
        return max(delay, retry_after) if retry_after is not None else delay

    def _request(self, prompt: str, n: int, batch: _Batch) -> tuple[str | None, list[str]]:
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
        with batch.request(settings.timeout_s) as guard:
            opener = urllib.request.build_opener(
                _NoRedirects(), _GuardedHTTPHandler(guard), _GuardedHTTPSHandler(guard)
            )
            try:
                with opener.open(request, timeout=settings.timeout_s) as response:
                    raw = response.read(_MAX_RESPONSE_BYTES + 1)
                if guard.expired or guard.interrupted:  # a sized read that the guard cut short ends quietly
                    raise OSError("the request was cut short")
            except urllib.error.HTTPError as error:
                raise _http_error(error, settings) from None
            except (OSError, http.client.HTTPException) as error:
                raise _transport_error(error, settings, guard) from None
        if len(raw) > _MAX_RESPONSE_BYTES:
            raise _FatalError(f"the reply from {settings.endpoint} is larger than {_MAX_RESPONSE_BYTES} bytes")
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


def _transport_error(
    error: OSError | http.client.HTTPException, settings: JudgeSettings, guard: _RequestGuard
) -> Exception:
    """What a failed connection or read means: retry, or give up (a host that does not resolve, an interruption)."""
    if guard.interrupted:
        return _FatalError("the batch was interrupted while this prompt was being judged")
    if guard.expired:
        return _RetryableError(f"no complete answer within {settings.timeout_s:g} s")
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, socket.gaierror):
        return _FatalError(f"cannot resolve the judge's host in {settings.endpoint}: {reason}")
    if isinstance(reason, TimeoutError):
        return _RetryableError(f"no answer within {settings.timeout_s:g} s")
    if isinstance(error, urllib.error.URLError):
        return _RetryableError(f"cannot reach {settings.endpoint}: {reason}")
    return _RetryableError(f"connection failed: {type(error).__name__}: {error}")


def _http_error(error: urllib.error.HTTPError, settings: JudgeSettings) -> Exception:
    detail, code = _error_detail(error)
    message = f"HTTP {error.code} from {settings.endpoint}: {detail}"
    if 300 <= error.code < 400:
        target = error.headers.get("Location") if error.headers is not None else None
        return _FatalError(
            f"HTTP {error.code} from {settings.endpoint}: a redirect to {target or 'an unnamed address'}, which is not "
            f"followed so that the prompts and the API key go nowhere else; point --judge-url ({BASE_URL_ENV}) at the "
            "address that answers"
        )
    if code == "insufficient_quota":  # OpenAI's 429 for an account out of credit: waiting does not help
        return _FatalError(message)
    if error.code in _RETRYABLE_STATUS or error.code >= 500:
        return _RetryableError(message, _retry_after_seconds(error.headers))
    if error.code in (401, 403):
        if settings.api_key:
            message += f" (check the API key in {API_KEY_ENV} or {OPENAI_API_KEY_ENV})"
        else:
            message += (
                f" (no API key was sent: this judge gets {API_KEY_ENV}; {OPENAI_API_KEY_ENV} goes only to "
                f"{OPENAI_API_HOST})"
            )
    elif error.code == 404:
        message += f" (check --judge-url/{BASE_URL_ENV} and --judge-model/{MODEL_ENV}: model {settings.model!r})"
    return _FatalError(message)


def _error_detail(error: urllib.error.HTTPError) -> tuple[str, str | None]:
    """The error message of an error response (OpenAI's `error.message` when present) and its `error.code`."""
    try:
        raw = error.read(_MAX_RESPONSE_BYTES)
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
