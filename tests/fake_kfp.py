"""A fake Kubeflow Pipelines API: a real HTTP server on loopback that speaks the v2beta1 REST
endpoints the kfp 2.17 client calls, keeps pipelines, versions, experiments and runs in memory,
and records every request so tests can check what was called.

Only what ``trainpipe submit`` and the kfp client need is implemented; anything else answers 404
(and is recorded, so a test sees an unexpected call).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

API = "/apis/v2beta1"


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str
    body: Any = None  # parsed JSON, or {"filename": ..., "content": bytes} for uploads

    @property
    def route(self) -> str:
        """``METHOD path`` with ids replaced by ``{id}``: ``GET /pipelines/{id}/versions``."""
        parts = self.path[len(API) :].strip("/").split("/")
        shape = [p if not p.startswith(("p-", "v-", "e-", "r-")) else "{id}" for p in parts]
        return f"{self.method} /{'/'.join(shape)}"


@dataclass
class FakeKFP:
    """The server's state; ``token`` (when set) must come as ``Authorization: Bearer TOKEN``."""

    token: str | None = None
    calls: list[Call] = field(default_factory=list)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)  # route -> HTTP status to answer once
    url: str = ""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def routes(self) -> list[str]:
        """The routes called so far, in order."""
        return [call.route for call in self.calls]

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):04d}"

    # -- request handling ---------------------------------------------------------------------

    def handle(self, call: Call) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(call)
            if self.token is not None and call.authorization != f"Bearer {self.token}":
                return 401, _error(16, "Unauthenticated: missing or bad bearer token")
            status = self.fail.pop(call.route, None)
            if status is not None:
                return status, _error(13, f"injected failure {status} for {call.route}")
            try:
                return self._dispatch(call)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return 400, _error(3, f"bad request: {exc!r}")

    def _dispatch(self, call: Call) -> tuple[int, dict[str, Any]]:
        parts = call.path[len(API) :].strip("/").split("/")
        method = call.method
        if method == "GET" and parts == ["healthz"]:
            return 200, {"multi_user": False, "pipeline_store": "database"}
        if parts[0] == "pipelines":
            return self._pipelines(method, parts[1:], call)
        if parts == ["experiments"]:
            if method == "GET":
                found = _filtered(self.experiments.values(), call.query)
                return 200, {"experiments": found, "total_size": len(found)}
            if method == "POST":
                name = call.body.get("display_name", "")
                if not name or any(e["display_name"] == name for e in self.experiments.values()):
                    return 409 if name else 400, _error(6, f"bad experiment name {name!r}")
                experiment = {
                    "experiment_id": self.new_id("e"),
                    "display_name": name,
                    "description": call.body.get("description") or "",
                    "namespace": call.body.get("namespace") or "",
                    "storage_state": "AVAILABLE",
                }
                self.experiments[experiment["experiment_id"]] = experiment
                return 200, experiment
        if parts == ["runs"] and method == "POST":
            return self._create_run(call.body)
        if len(parts) == 2 and parts[0] == "runs" and method == "GET":
            run = self.runs.get(parts[1])
            return (200, run) if run else (404, _error(5, f"run {parts[1]} not found"))
        return 404, _error(5, f"fake KFP does not implement {method} {call.path}")

    def _pipelines(self, method: str, rest: list[str], call: Call) -> tuple[int, dict[str, Any]]:
        if not rest and method == "GET":
            found = _filtered(self.pipelines.values(), call.query)
            return 200, {"pipelines": found, "total_size": len(found)}
        if not rest and method == "POST":
            name = call.body.get("display_name") or call.body.get("name") or ""
            if not name or any(p["display_name"] == name for p in self.pipelines.values()):
                return 409 if name else 400, _error(6, f"bad pipeline name {name!r}")
            pipeline = {
                "pipeline_id": self.new_id("p"),
                "display_name": name,
                "name": name,
                "description": call.body.get("description") or "",
                "namespace": call.body.get("namespace") or "",
                "created_at": "2026-01-01T00:00:00Z",
            }
            self.pipelines[pipeline["pipeline_id"]] = pipeline
            return 200, pipeline
        if rest == ["upload_version"] and method == "POST":
            pipeline_id = call.query.get("pipelineid", "")
            name = call.query.get("name") or call.query.get("display_name") or ""
            if pipeline_id not in self.pipelines:
                return 404, _error(5, f"pipeline {pipeline_id!r} not found")
            if any(
                v["pipeline_id"] == pipeline_id and v["display_name"] == name
                for v in self.versions.values()
            ):
                return 409, _error(6, f"version {name!r} already exists")
            spec = next(yaml.safe_load_all(call.body["content"]), None)  # then platform spec
            if not isinstance(spec, dict) or "pipelineInfo" not in spec:
                return 400, _error(3, "uploaded file is not a compiled KFP pipeline")
            version = {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": self.new_id("v"),
                "display_name": name,
                "name": name,
                "description": call.query.get("description", ""),
                "created_at": "2026-01-01T00:00:00Z",
                "pipeline_spec": spec,
            }
            self.versions[version["pipeline_version_id"]] = version
            return 200, version
        if len(rest) == 2 and rest[1] == "versions" and method == "GET":
            if rest[0] not in self.pipelines:
                return 404, _error(5, f"pipeline {rest[0]!r} not found")
            mine = [v for v in self.versions.values() if v["pipeline_id"] == rest[0]]
            found = _filtered(mine, call.query)
            return 200, {"pipeline_versions": found, "total_size": len(found)}
        return 404, _error(5, f"fake KFP does not implement {method} {call.path}")

    def _create_run(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("experiment_id") not in self.experiments:
            return 400, _error(3, f"experiment {body.get('experiment_id')!r} not found")
        reference = body.get("pipeline_version_reference") or {}
        version = self.versions.get(reference.get("pipeline_version_id", ""))
        if version is None or version["pipeline_id"] != reference.get("pipeline_id"):
            return 400, _error(3, f"pipeline version reference {reference} not found")
        declared = version["pipeline_spec"]["root"]["inputDefinitions"]["parameters"]
        parameters = (body.get("runtime_config") or {}).get("parameters") or {}
        unknown = set(parameters) - set(declared)
        if unknown:
            return 400, _error(3, f"unknown pipeline parameters {sorted(unknown)}")
        run = {**body, "run_id": self.new_id("r"), "state": "PENDING"}
        self.runs[run["run_id"]] = run
        return 200, run


def _error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "error": message}


def _filtered(items: Any, query: dict[str, str]) -> list[dict[str, Any]]:
    """Apply a KFP filter's EQUALS predicates (the only operation used here)."""
    found = list(items)
    raw = query.get("filter")
    if raw:
        for predicate in json.loads(raw).get("predicates", []):
            if predicate.get("operation") not in (1, "EQUALS"):  # proto JSON: number or name
                raise ValueError(f"fake KFP filters support EQUALS only, got {predicate}")
            value = predicate.get("stringValue", predicate.get("string_value"))
            found = [item for item in found if item.get(predicate["key"]) == value]
    namespace = query.get("namespace")
    if namespace:
        found = [item for item in found if item.get("namespace", "") in ("", namespace)]
    return found


def _make_handler(state: FakeKFP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = None
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("multipart/form-data"):
                body = _multipart_file(content_type, raw)
            elif raw:
                body = json.loads(raw)
            call = Call(
                method=self.command,
                path=split.path,
                query=query,
                authorization=self.headers.get("Authorization", ""),
                body=body,
            )
            status, payload = state.handle(call)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = _serve

    return Handler


def _multipart_file(content_type: str, raw: bytes) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            return {"filename": part.get_filename(), "content": part.get_payload(decode=True)}
    raise AssertionError("multipart upload without an 'uploadfile' field")


@contextmanager
def serve_fake_kfp(token: str | None = None) -> Iterator[FakeKFP]:
    """Run a :class:`FakeKFP` on a free loopback port for the duration of the block."""
    state = FakeKFP(token=token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True  # a client's idle keep-alive connection must not block close
    server.block_on_close = False
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
