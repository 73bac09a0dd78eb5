"""Which LLM judge to ask and how: its URL, model, key and sampling settings, and where the key may go.

The defaults are VoiceBench's `api_judge.py` settings (gpt-4o-mini, n=3, temperature 0.5, top_p 0.95,
max_tokens 1024, its system message), the official judge of the benchmarks that use one.

An API key goes only where it was meant to: OPENAI_API_KEY only to the OpenAI API, any other judge
gets DIFFA_EVAL_JUDGE_API_KEY; a key is not sent in clear text (http) to another machine unless
DIFFA_EVAL_JUDGE_ALLOW_HTTP_KEY says so.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import urllib.parse
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ...cache import cache_root
from ...errors import ConfigError

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

HOW_TO_CONFIGURE = (
    "No LLM judge is configured. For the official judge (gpt-4o-mini on the OpenAI API) set "
    f"{API_KEY_ENV} (or {OPENAI_API_KEY_ENV}) to an API key. For another OpenAI-compatible server, such as a "
    f"local vLLM server that needs no key, pass --judge-url (or set {BASE_URL_ENV}), e.g. "
    f"http://localhost:8000/v1, and --judge-model (or set {MODEL_ENV}) to the name of the model it serves; "
    f"a server that needs a key gets {API_KEY_ENV} ({OPENAI_API_KEY_ENV} goes only to {OPENAI_API_HOST})."
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


def normalized_url(url: str) -> str:
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
        object.__setattr__(self, "base_url", normalized_url(self.base_url))
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
