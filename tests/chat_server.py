"""A chat-completions server on 127.0.0.1 whose replies a test scripts: answers, HTTP errors and
redirects, delays past a client's timeout, replies trickled a byte at a time, malformed bodies,
closed and reset connections. It records every request, whatever its method."""

from __future__ import annotations

import json
import socket
import ssl
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
    """Seconds to wait before answering (cut short when the server stops)."""
    hang_up: str | None = None
    """"close": close the connection without answering; "reset": abort it (TCP RST)."""
    trickle_s: float = 0.0
    """When positive, the reply is sent one byte at a time with this pause between bytes."""
    trickle_from_body: bool = False
    """Send the status line and headers at once and trickle only the body."""


def answer(*texts: str) -> Reply:
    return Reply(texts=texts)


SERVER_ERROR = Reply(status=500, body=b'{"error": {"message": "The server had an error"}}')


def redirect(status: int, location: str) -> Reply:
    return Reply(status=status, body=b"", headers={"Location": location})


@dataclass(frozen=True)
class ReceivedRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    method: str = "POST"

    @property
    def prompt(self) -> str:
        return str(self.body["messages"][-1]["content"])


class ChatServer:
    """POST /v1/chat/completions on 127.0.0.1: replies come from `queue` first, then from `script`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: a server context with a certificate for "localhost", to serve https."""
        self.requests: list[ReceivedRequest] = []
        self.queue: list[Reply] = []
        self.script: Callable[[ReceivedRequest], Reply] = lambda request: Reply()
        self.served_model = "judge-model-2024-07-18"
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._scheme = "http" if tls is None else "https"
        self._host = "127.0.0.1" if tls is None else "localhost"
        self._httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"{self._scheme}://{self._host}:{self._httpd.server_address[1]}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()  # replies still waiting or trickling end now
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
            self._serve()

        def do_GET(self) -> None:  # what a client that follows a redirect to a POST may send
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length)) if length else {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = ReceivedRequest(body, headers, time.monotonic(), self.command)
            reply = server.receive(request)
            try:
                server.stopping.wait(reply.delay_s)
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
            head = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}"]
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}", "Connection: close"]
            head += [f"{name}: {value}" for name, value in reply.headers.items()]
            response = "\r\n".join([*head, "", ""]).encode("latin-1") + payload
            if reply.trickle_s <= 0:
                self.wfile.write(response)
                return
            at_once = len(response) - len(payload) if reply.trickle_from_body else 0
            self.wfile.write(response[:at_once])
            for index in range(at_once, len(response)):
                if server.stopping.wait(reply.trickle_s):
                    return
                self.wfile.write(response[index : index + 1])

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
def running(
    script: Callable[[ReceivedRequest], Reply] | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[ChatServer]:
    """A started server (replying with `script` when given), stopped on exit."""
    server = ChatServer(tls)
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
