"""A chat-completions server on 127.0.0.1 whose replies a test scripts: answers, HTTP errors,
delays past a client's timeout, malformed bodies, closed and reset connections."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from diffa_eval.scoring.judge import JudgeSettings


@dataclass(frozen=True)
class Reply:
    """What the server does with one request."""

    status: int = 200
    texts: Sequence[str] | None = None
    """Choices to return; None returns as many copies of "5" as the request's n."""
    body: bytes | None = None
    """A raw body instead of a chat completion."""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang_up: str | None = None
    """"close": close the connection without answering; "reset": abort it (TCP RST)."""


def answer(*texts: str) -> Reply:
    return Reply(texts=texts)


SERVER_ERROR = Reply(status=500, body=b'{"error": {"message": "The server had an error"}}')


@dataclass(frozen=True)
class ReceivedRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float

    @property
    def prompt(self) -> str:
        return str(self.body["messages"][-1]["content"])


class ChatServer:
    """POST /v1/chat/completions on 127.0.0.1: replies come from `queue` first, then from `script`."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.queue: list[Reply] = []
        self.script: Callable[[ReceivedRequest], Reply] = lambda request: Reply()
        self.served_model = "judge-model-2024-07-18"
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def prompts(self) -> list[str]:
        return [request.prompt for request in self.requests]

    def receive(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            reply = self.queue.pop(0) if self.queue else self.script(request)
        return reply

    def done(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _handler_for(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            request = ReceivedRequest(body, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
            reply = server.receive(request)
            try:
                time.sleep(reply.delay_s)
            finally:
                server.done()  # before answering, so that a client's next request never overlaps this one
            self.close_connection = True
            if reply.hang_up == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()  # no orderly shutdown first: closing with linger 0 sends a TCP RST
                return
            if reply.hang_up == "close":
                return
            payload = reply.body if reply.body is not None else _completion(server, request, reply)
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _completion(server: ChatServer, request: ReceivedRequest, reply: Reply) -> bytes:
    texts = reply.texts if reply.texts is not None else ["5"] * int(request.body.get("n", 1))
    choices = [
        {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        for i, text in enumerate(texts)
    ]
    return json.dumps({"object": "chat.completion", "model": server.served_model, "choices": choices}).encode()


@contextmanager
def running(script: Callable[[ReceivedRequest], Reply] | None = None) -> Iterator[ChatServer]:
    """A started server (replying with `script` when given), stopped on exit."""
    server = ChatServer()
    if script is not None:
        server.script = script
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fast(server: ChatServer, **overrides: Any) -> JudgeSettings:
    """Settings for the local server with tiny backoff, so retries cost milliseconds."""
    values: dict[str, Any] = {
        "base_url": server.url,
        "model": "judge-model",
        "timeout_s": 5.0,
        "max_retries": 3,
        "backoff_s": 0.001,
        "max_backoff_s": 0.01,
    }
    values.update(overrides)
    return JudgeSettings(**values)
