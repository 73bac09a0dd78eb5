"""One chat-completions request to a judge, made safely: a total deadline, no redirects, a bounded reply.

`chat_completion` posts one prompt and returns the answers, or raises `RetryableError` (a failure a
second try can mend: 429, 5xx, a timeout, a reset, a malformed reply) or `FatalError` (one it cannot).
Each request runs under a `_RequestGuard` that shuts its socket down when the deadline passes or its
`RequestBatch` stops, so a reply trickled byte by byte is cut off and Ctrl-C ends requests at once.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import math
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from email.message import Message
from types import TracebackType
from typing import IO, Any

from .settings import API_KEY_ENV, BASE_URL_ENV, MODEL_ENV, OPENAI_API_HOST, OPENAI_API_KEY_ENV, JudgeSettings

MAX_RETRY_AFTER_S = 600.0
"""The longest wait a server's Retry-After header can impose before the next attempt."""

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_ERROR_BODY_CHARS = 300
_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""A judge's reply is a few KB; a larger one is refused rather than held in memory."""


class RetryableError(Exception):
    """A failed request that may succeed when sent again (after `retry_after` seconds, when the server says)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(Exception):
    """A failed request that would fail again: the prompt is given up."""


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


class RequestBatch:
    """The requests of one batch in flight; stopping it ends their waits and requests at once."""

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


def chat_completion(settings: JudgeSettings, prompt: str, n: int, batch: RequestBatch) -> tuple[str | None, list[str]]:
    """(model, stripped answer texts) of one request for `n` answers to `prompt`, under `batch`."""
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
        opener = urllib.request.build_opener(_NoRedirects(), _GuardedHTTPHandler(guard), _GuardedHTTPSHandler(guard))
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
        raise FatalError(f"the reply from {settings.endpoint} is larger than {_MAX_RESPONSE_BYTES} bytes")
    return _parse_completion(raw)


def _transport_error(
    error: OSError | http.client.HTTPException, settings: JudgeSettings, guard: _RequestGuard
) -> Exception:
    """What a failed connection or read means: retry, or give up (a host that does not resolve, an interruption)."""
    if guard.interrupted:
        return FatalError("the batch was interrupted while this prompt was being judged")
    if guard.expired:
        return RetryableError(f"no complete answer within {settings.timeout_s:g} s")
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, socket.gaierror):
        return FatalError(f"cannot resolve the judge's host in {settings.endpoint}: {reason}")
    if isinstance(reason, TimeoutError):
        return RetryableError(f"no answer within {settings.timeout_s:g} s")
    if isinstance(error, urllib.error.URLError):
        return RetryableError(f"cannot reach {settings.endpoint}: {reason}")
    return RetryableError(f"connection failed: {type(error).__name__}: {error}")


def _http_error(error: urllib.error.HTTPError, settings: JudgeSettings) -> Exception:
    detail, code = _error_detail(error)
    message = f"HTTP {error.code} from {settings.endpoint}: {detail}"
    if 300 <= error.code < 400:
        target = error.headers.get("Location") if error.headers is not None else None
        return FatalError(
            f"HTTP {error.code} from {settings.endpoint}: a redirect to {target or 'an unnamed address'}, which is not "
            f"followed so that the prompts and the API key go nowhere else; point --judge-url ({BASE_URL_ENV}) at the "
            "address that answers"
        )
    if code == "insufficient_quota":  # OpenAI's 429 for an account out of credit: waiting does not help
        return FatalError(message)
    if error.code in _RETRYABLE_STATUS or error.code >= 500:
        return RetryableError(message, _retry_after_seconds(error.headers))
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
    return FatalError(message)


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
        raise RetryableError(f"the response is not JSON: {raw[:_ERROR_BODY_CHARS]!r}") from None
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices:
        raise RetryableError(f"the response has no choices: {raw[:_ERROR_BODY_CHARS]!r}")
    texts = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise RetryableError(f"a choice has no message content: {raw[:_ERROR_BODY_CHARS]!r}")
        texts.append(content.strip())
    model = payload.get("model")
    return (model if isinstance(model, str) and model else None), texts
