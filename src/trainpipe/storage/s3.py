"""An object store on an S3-protocol server (AWS S3, MinIO, ...), built on the ``minio`` SDK."""

from __future__ import annotations

import builtins
import io
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.credentials import StaticProvider
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from trainpipe.errors import StorageError
from trainpipe.storage.base import BaseStore, join_key, normalize_prefix, validate_key
from trainpipe.storage.local import atomic_write_file
from trainpipe.storage.uri import validate_bucket_name

__all__ = ["ENDPOINT_ENV_VARS", "LARGE_FILE_THRESHOLD", "S3Store", "s3_client_from_env"]

#: Environment variables read, in order, for the S3 endpoint.
ENDPOINT_ENV_VARS = ("TRAINPIPE_S3_ENDPOINT", "AWS_ENDPOINT_URL", "MINIO_ENDPOINT")
#: Files at least this large are uploaded with ``fput_object`` (multipart, parallel parts).
LARGE_FILE_THRESHOLD = 64 * 1024 * 1024

_CHUNK = 1024 * 1024
_CREDENTIAL_HINT = (
    "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
    "MINIO_ACCESS_KEY/MINIO_SECRET_KEY) and the bucket policy"
)
_ENDPOINT_HINT = "(check TRAINPIPE_S3_ENDPOINT / AWS_ENDPOINT_URL / MINIO_ENDPOINT)"
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AllAccessDisabled",
    }
)
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _parse_endpoint(raw: str, source: str) -> tuple[str, bool | None]:
    """Split an endpoint setting into (host[:port], secure-or-None-if-unspecified)."""
    shown = re.sub(r"^([^/@]*//)?[^/@]*@", r"\1***@", raw)  # never echo user:password@
    if "://" not in raw:
        host, secure = raw.rstrip("/"), None
    else:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https"):
            raise StorageError(
                f"{source}={shown!r} is not a valid S3 endpoint: use http://host:port, "
                "https://host:port or host:port"
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise StorageError(
                f"{source}={shown!r} is not a valid S3 endpoint: it must not have a path, "
                "use http://host:port, https://host:port or host:port"
            )
        host, secure = parts.netloc, parts.scheme == "https"
    if not host or "/" in host or "@" in host:
        raise StorageError(
            f"{source}={shown!r} is not a valid S3 endpoint: use http://host:port, "
            "https://host:port or host:port"
        )
    return host, secure


def s3_client_from_env(
    env: Mapping[str, str] | None = None,
    *,
    retries: int = 3,
    connect_timeout: float = 10.0,
    read_timeout: float = 300.0,
) -> Minio:
    """Build a ``minio.Minio`` client from environment variables (``os.environ`` by default).

    * endpoint: ``TRAINPIPE_S3_ENDPOINT``, else ``AWS_ENDPOINT_URL``, else ``MINIO_ENDPOINT``
      (``http://host:port``, ``https://host:port`` or ``host:port``);
    * credentials: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``), else
      ``MINIO_ACCESS_KEY``/``MINIO_SECRET_KEY``; none means anonymous access;
    * TLS: the endpoint's scheme when given, else ``TRAINPIPE_S3_SECURE`` (default true);
    * region: ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` (optional).

    ``retries`` and the timeouts tune the HTTP client. Raises :class:`StorageError` (never
    quoting credentials) when the endpoint is missing or a setting is malformed.
    """
    env = os.environ if env is None else env
    endpoint = source = None
    for name in ENDPOINT_ENV_VARS:
        endpoint = _env(env, name)
        if endpoint is not None:
            source = name
            break
    if endpoint is None or source is None:
        raise StorageError(
            "no S3 endpoint configured: set TRAINPIPE_S3_ENDPOINT (or AWS_ENDPOINT_URL or "
            "MINIO_ENDPOINT) to http://host:port, https://host:port or host:port, and set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or MINIO_ACCESS_KEY/MINIO_SECRET_KEY)"
        )
    host, secure = _parse_endpoint(endpoint, source)
    if secure is None:
        flag = (_env(env, "TRAINPIPE_S3_SECURE") or "true").lower()
        if flag not in _TRUE | _FALSE:
            raise StorageError(
                f"TRAINPIPE_S3_SECURE={flag!r} is not a boolean: use 'true' or 'false'"
            )
        secure = flag in _TRUE

    access_key = secret_key = session_token = None
    for key_var, secret_var in (
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"),
    ):
        access_key, secret_key = _env(env, key_var), _env(env, secret_var)
        if access_key is None and secret_key is None:
            continue
        if access_key is None or secret_key is None:
            missing = key_var if access_key is None else secret_var
            present = secret_var if access_key is None else key_var
            raise StorageError(f"{present} is set but {missing} is not: set both or neither")
        if key_var.startswith("AWS_"):
            session_token = _env(env, "AWS_SESSION_TOKEN")
        break

    region = _env(env, "AWS_REGION") or _env(env, "AWS_DEFAULT_REGION")
    http_client = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        retries=urllib3.Retry(
            total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
        ),
    )
    try:
        return Minio(
            host,
            access_key=access_key,
            secret_key=secret_key,
            session_token=session_token,
            secure=secure,
            region=region,
            http_client=http_client,
        )
    except ValueError as exc:
        raise StorageError(
            f"{source}={endpoint!r} (region {region!r}) is not usable as an S3 endpoint: {exc}"
        ) from exc


def _endpoint_of(client: Minio) -> str:
    base = getattr(client, "_base_url", None)
    host = getattr(base, "host", None)
    if not host:
        return "<unknown endpoint>"
    return f"{'https' if getattr(base, 'is_https', False) else 'http'}://{host}"


def _secrets_of(client: Minio) -> builtins.list[str]:
    provider = getattr(client, "_provider", None)
    if not isinstance(provider, StaticProvider):
        return []
    creds = provider.retrieve()
    return [s for s in (creds.secret_key, creds.access_key, creds.session_token) if s]


def _network_reason(exc: BaseException) -> str:
    """Describe a connection-level failure, walking the exception chain."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, NameResolutionError):
            return "cannot resolve the endpoint host name: check the endpoint setting"
        if isinstance(cur, SSLError):
            return (
                "TLS handshake failed: if the endpoint speaks plain http, use an http:// "
                "endpoint or set TRAINPIPE_S3_SECURE=false"
            )
        if isinstance(cur, ConnectionRefusedError | NewConnectionError) and (
            "refused" in str(cur).lower() or isinstance(cur, ConnectionRefusedError)
        ):
            return f"connection refused: is the endpoint running/reachable? {_ENDPOINT_HINT}"
        if isinstance(cur, Urllib3TimeoutError | TimeoutError):
            return f"timed out: is the endpoint running/reachable? {_ENDPOINT_HINT}"
        if isinstance(cur, MaxRetryError) and cur.reason is not None:
            cur = cur.reason
            continue
        cur = cur.__cause__ or cur.__context__
    return (
        f"network error ({type(exc).__name__}): is the endpoint running/reachable? {_ENDPOINT_HINT}"
    )


class S3Store(BaseStore):
    """An object store under ``s3://bucket/prefix`` on an S3-protocol server.

    The ``minio`` client is injected (``client``) or built by :func:`s3_client_from_env`. The
    bucket is created on the first write when ``create_bucket`` is true. Puts are atomic on the
    server side; downloads go through a temp file next to the local target.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Minio | None = None,
        *,
        create_bucket: bool = True,
    ) -> None:
        """Root the store at ``prefix`` inside ``bucket``; see the class docstring."""
        why = validate_bucket_name(bucket)
        if why is not None:
            raise StorageError(f"invalid S3 bucket for store s3://{bucket}/{prefix}: {why}")
        self.bucket = bucket
        self.prefix = normalize_prefix("/".join(seg for seg in prefix.split("/") if seg))
        self.client = client if client is not None else s3_client_from_env()
        self.create_bucket = create_bucket
        self.endpoint = _endpoint_of(self.client)
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._bucket_state: dict[str, bool] = {"ready": False}

    def __repr__(self) -> str:
        return f"S3Store(uri={self.uri!r}, endpoint={self.endpoint!r})"

    # -- helpers -------------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return join_key(self.prefix, validate_key(key))

    def _redact(self, text: str) -> str:
        """Mask credentials in text that came from the server or the SDK."""
        for secret in _secrets_of(self.client):
            text = text.replace(secret, "***")
        return text

    def _fail(self, action: str, key: str | None, exc: BaseException) -> NoReturn:
        """Raise a :class:`StorageError` explaining ``exc`` (never quoting credentials)."""
        target = self.uri_for(key) if key else self.uri
        where = f"at {self.endpoint}"
        if isinstance(exc, S3Error):
            code = exc.code or "S3Error"
            if code in _MISSING_OBJECT_CODES and key:
                msg = f"{target} does not exist (no object {self._name(key)!r} {where})"
            elif code == "NoSuchBucket":
                msg = (
                    f"cannot {action} {target}: bucket {self.bucket!r} does not exist {where} "
                    f"(NoSuchBucket): create bucket {self.bucket!r} or fix the store URI "
                    "(e.g. registry.uri)"
                )
            elif code in _AUTH_CODES:
                msg = f"cannot {action} {target} {where}: {code}: {_CREDENTIAL_HINT}"
            else:
                detail = self._redact(str(exc.message or exc))
                msg = f"cannot {action} {target} {where}: {code}: {detail}"
        elif isinstance(exc, ServerError | InvalidResponseError):
            detail = self._redact(str(exc))
            detail = detail if len(detail) <= 300 else detail[:300] + "..."
            msg = (
                f"cannot {action} {target} {where}: the server answered with an error "
                f"({detail}); check that the endpoint is an S3 server and it is healthy"
            )
        elif isinstance(exc, HTTPError | ConnectionError | TimeoutError):
            msg = f"cannot {action} {target} {where}: {_network_reason(exc)}"
        elif isinstance(exc, OSError):
            msg = f"cannot {action} {target}: {self._redact(str(exc.strerror or exc))}"
        else:
            detail = self._redact(str(exc))
            msg = f"cannot {action} {target} {where}: {type(exc).__name__}: {detail}"
        raise StorageError(msg) from exc

    @contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except StorageError:
            raise
        except (MinioException, HTTPError, OSError, ValueError) as exc:
            self._fail(action, key, exc)

    def _ensure_bucket(self) -> None:
        if not self.create_bucket or self._bucket_state["ready"]:
            return
        with self._errors("create the bucket of"):
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        self._bucket_state["ready"] = True

    @staticmethod
    def _is_missing_bucket(exc: S3Error) -> bool:
        return exc.code == "NoSuchBucket"

    # -- primitives ----------------------------------------------------------------------------

    def local_path(self, key: str) -> Path | None:
        """Always None: S3 objects have no local path."""
        validate_key(key)
        return None

    def read_bytes(self, key: str) -> bytes:
        """Return the content of ``key``; a missing key raises :class:`StorageError`."""
        name = self._name(key)
        response: Any = None
        with self._errors("read", key):
            try:
                response = self.client.get_object(self.bucket, name)
                return bytes(response.read())
            finally:
                if response is not None:
                    response.close()
                    response.release_conn()
        raise AssertionError("unreachable")  # pragma: no cover

    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or replace ``key`` with one ``put_object`` (atomic on the server side)."""
        name = self._name(key)
        payload = bytes(data)
        self._ensure_bucket()
        with self._errors("write", key):
            self.client.put_object(self.bucket, name, io.BytesIO(payload), len(payload))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if absent, with a conditional PUT (``If-None-Match: *``).

        MinIO and S3 evaluate the condition atomically on the server. minio-py's public
        ``put_object`` turns unknown headers into user metadata, so this goes through its
        ``_put_object``, which sends headers as given.
        """
        name = self._name(key)
        payload = bytes(data)
        self._ensure_bucket()
        with self._errors("create", key):
            try:
                self.client._put_object(self.bucket, name, payload, headers={"If-None-Match": "*"})
            except S3Error as exc:
                if exc.code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return False
                raise
        return True

    def exists(self, key: str) -> bool:
        """True when an object is stored at ``key`` (False when the bucket does not exist)."""
        name = self._name(key)
        with self._errors("check", key):
            try:
                self.client.stat_object(self.bucket, name)
            except S3Error as exc:
                if exc.code in _MISSING_OBJECT_CODES or self._is_missing_bucket(exc):
                    return False
                raise
        return True

    def list(self, prefix: str = "") -> builtins.list[str]:
        """All keys under the ``prefix`` directory (recursively), relative to the root, sorted.

        A bucket that does not exist yet lists as empty.
        """
        prefix = normalize_prefix(prefix)
        full = join_key(self.prefix, prefix) if prefix else self.prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        with self._errors("list", prefix or None):
            try:
                for obj in self.client.list_objects(
                    self.bucket, prefix=f"{full}/" if full else None, recursive=True
                ):
                    name = obj.object_name
                    if not name or obj.is_dir or name.endswith("/"):
                        continue
                    keys.append(name[strip:])
            except S3Error as exc:
                if not self._is_missing_bucket(exc):
                    raise
                return []
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Delete ``key``; a missing key or bucket is not an error."""
        name = self._name(key)
        with self._errors("delete", key):
            try:
                self.client.remove_object(self.bucket, name)
            except S3Error as exc:
                if not (exc.code in _MISSING_OBJECT_CODES or self._is_missing_bucket(exc)):
                    raise

    def upload_file(self, local_path: str | Path, key: str) -> None:
        """Upload the local file ``local_path`` to ``key`` (``fput_object`` for large files)."""
        name = self._name(key)
        source = Path(local_path)
        if not source.is_file():
            raise StorageError(
                f"cannot upload {source} to {self.uri_for(key)}: it is not an existing file"
            )
        self._ensure_bucket()
        with self._errors("upload to", key):
            size = source.stat().st_size
            if size >= LARGE_FILE_THRESHOLD:
                self.client.fput_object(self.bucket, name, str(source))
            else:
                with source.open("rb") as fh:
                    self.client.put_object(self.bucket, name, fh, size)

    def download_file(self, key: str, local_path: str | Path) -> None:
        """Download ``key`` to ``local_path`` through a temp file, creating parent dirs."""
        name = self._name(key)
        target = Path(local_path)
        response: Any = None
        with self._errors("download", key):
            try:
                response = self.client.get_object(self.bucket, name)

                def fill(fd: int) -> None:
                    for chunk in response.stream(_CHUNK):
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view) :]

                try:
                    atomic_write_file(target, fill)
                except OSError as exc:
                    if isinstance(exc, ConnectionError):
                        raise
                    raise StorageError(
                        f"cannot download {self.uri_for(key)} to {target}: {exc.strerror or exc}"
                    ) from exc
            finally:
                if response is not None:
                    response.close()
                    response.release_conn()

    def child(self, prefix: str) -> S3Store:
        """A store rooted at ``prefix`` inside this one, sharing the client."""
        prefix = normalize_prefix(prefix)
        if not prefix:
            raise StorageError("child() needs a non-empty prefix")
        store = S3Store(
            self.bucket,
            join_key(self.prefix, prefix),
            client=self.client,
            create_bucket=self.create_bucket,
        )
        store._bucket_state = self._bucket_state
        return store
