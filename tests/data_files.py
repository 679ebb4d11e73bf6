"""Helpers for data tests: configs for a source, CSV files, the files a stage wrote, and an S3
endpoint that refuses anonymous requests."""

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from trainpipe.config import RunConfig


def make_config(source: str | Path, **data: Any) -> RunConfig:
    """A run config reading ``source`` (``task=`` picks the task, the rest go to ``data``)."""
    task = data.pop("task", "classification")
    return RunConfig.from_dict({"task": task, "data": {"source": str(source), **data}})


def write_csv(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    """Write ``text`` (or raw bytes) to a file under ``tmp_path``."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def files_under(path: Path) -> list[Path]:
    """Every file below ``path`` (none when it does not exist)."""
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


S3_ENV_VARS = (
    "TRAINPIPE_S3_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "MINIO_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MINIO_ACCESS_KEY",
    "MINIO_SECRET_KEY",
)
"""Every variable the S3 client reads its endpoint and credentials from."""

_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied.</Message><RequestId>0</RequestId></Error>"
)


class _DenyingHandler(BaseHTTPRequestHandler):
    """Answers every request the way an S3 server answers one without valid credentials."""

    def _deny(self) -> None:
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(_ACCESS_DENIED)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(_ACCESS_DENIED)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _deny

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def denying_s3_server() -> Iterator[str]:
    """An HTTP endpoint on loopback that refuses every S3 request with 403 AccessDenied."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DenyingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
