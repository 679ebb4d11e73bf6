"""A recording stand-in for a Prometheus Pushgateway (the ``gateway`` fixture in conftest)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Gateway:
    """A local HTTP server that records every PUT/POST as (method, path, body)."""

    url: str
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)


@contextlib.contextmanager
def recording_gateway() -> Iterator[Gateway]:
    """A recording Pushgateway stand-in on a free loopback port."""
    recorded: list[tuple[str, str, bytes]] = []

    class Recorder(BaseHTTPRequestHandler):
        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            recorded.append((self.command, self.path, body))
            self.send_response(200)
            self.end_headers()

        do_PUT = do_POST = _record  # http.server's method names

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway(url=f"http://127.0.0.1:{server.server_address[1]}", requests=recorded)
    finally:
        server.shutdown()
        server.server_close()
