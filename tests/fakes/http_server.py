"""What the local fakes share: a threaded HTTP server on 127.0.0.1.

A fake hands :class:`LocalHTTPServer` one function that turns a request
(method, target, lower-cased headers, raw body) into an :data:`Answer`, or into
``None`` to drop the connection without answering (a response lost on the
way). The server runs it on a thread per connection, logs no request lines
(some of them carry tokens) and shrugs off a client that stopped waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# status, headers, body
Answer = tuple[int, Sequence[tuple[str, str]], bytes]
Respond = Callable[[str, str, dict[str, str], bytes], Answer | None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.protocol_version = self.server.protocol_version

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.respond(self.command, self.path, headers, raw)
        if answer is None:
            self.close_connection = True
            return
        status, reply_headers, payload = answer
        try:
            self.send_response(status)
            for name, value in reply_headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (its timeout, or a slow-reply fault)

    do_GET = do_POST = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines may hold a token: never print them


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    respond: Respond
    protocol_version: str


class LocalHTTPServer:
    """Serves ``respond`` on ``host`` (127.0.0.1) and ``port`` (an ephemeral one unless told)."""

    def __init__(self, respond: Respond, *, host: str = "127.0.0.1", port: int = 0,
                 name: str = "fake-http", protocol_version: str = "HTTP/1.1") -> None:
        self._server = _Server((host, port), _Handler)
        self._server.respond = respond
        self._server.protocol_version = protocol_version
        # A short poll interval lets shutdown() return at once instead of after 0.5 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        """``http://host:port``, without a trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def wait_for_ctrl_c() -> None:
    """Block a by-hand run (``python -m tests.fakes.…``) until Ctrl-C."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
