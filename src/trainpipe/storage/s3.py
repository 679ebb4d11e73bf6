"""An object store on an S3-protocol server (AWS S3, MinIO, ...), built on the ``minio`` SDK."""

from __future__ import annotations

import builtins
import io
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

import urllib3
from minio import Minio
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
from trainpipe.storage.base import (
    BaseStore,
    check_range,
    join_key,
    normalize_prefix,
    validate_key,
)
from trainpipe.storage.local import atomic_write_file
from trainpipe.storage.uri import validate_bucket_name

__all__ = [
    "ENDPOINT_ENV_VARS",
    "LARGE_FILE_THRESHOLD",
    "S3Settings",
    "S3Store",
    "http_pool",
    "s3_client",
    "s3_client_from_env",
    "s3_settings_from_env",
]

#: Environment variables read, in order, for the S3 endpoint.
ENDPOINT_ENV_VARS = ("TRAINPIPE_S3_ENDPOINT", "AWS_ENDPOINT_URL", "MINIO_ENDPOINT")
#: Files at least this large are uploaded with ``fput_object`` (multipart, parallel parts).
LARGE_FILE_THRESHOLD = 64 * 1024 * 1024

_CHUNK = 1024 * 1024
_PRESIGN_EXPIRY = timedelta(minutes=15)
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


@dataclass(frozen=True)
class S3Settings:
    """An S3 endpoint and the credentials used there, as :func:`s3_settings_from_env` reads them.

    The store keeps them to name its endpoint in messages and to mask its credentials in text
    that comes back from the server; ``repr`` never shows the secret or the session token.
    """

    host: str
    """``host[:port]`` of the endpoint."""
    secure: bool
    """HTTPS when true."""
    source: str = "TRAINPIPE_S3_ENDPOINT"
    """The environment variable that named the endpoint."""
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    key_variable: str | None = None
    """The environment variable the access key came from (None: anonymous access)."""
    region: str | None = None

    @property
    def endpoint(self) -> str:
        """The endpoint as a URL, ``http(s)://host[:port]``."""
        return f"{'https' if self.secure else 'http'}://{self.host}"

    def identity(self) -> str:
        """Whose credentials these are, safe to log: the key's variable and its first characters.

        ``AWS_ACCESS_KEY_ID=AKIA...`` (at most 4 characters, never more than half the key), or
        ``no credentials (anonymous)``. The secret is never shown.
        """
        if not self.access_key:
            return "no credentials (anonymous)"
        shown = self.access_key[: min(4, len(self.access_key) // 2)]
        return f"{self.key_variable or 'access key'}={shown}..."

    def secrets(self) -> builtins.list[str]:
        """The credential strings to mask in messages, longest first."""
        values = (self.secret_key, self.session_token, self.access_key)
        return sorted((v for v in values if v), key=len, reverse=True)


def s3_settings_from_env(env: Mapping[str, str] | None = None) -> S3Settings:
    """Read the S3 endpoint and credentials from environment variables (``os.environ``).

    * endpoint: ``TRAINPIPE_S3_ENDPOINT``, else ``AWS_ENDPOINT_URL``, else ``MINIO_ENDPOINT``
      (``http://host:port``, ``https://host:port`` or ``host:port``);
    * credentials: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``), else
      ``MINIO_ACCESS_KEY``/``MINIO_SECRET_KEY``; none means anonymous access;
    * TLS: the endpoint's scheme when given, else ``TRAINPIPE_S3_SECURE`` (default true);
    * region: ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` (optional).

    Raises :class:`StorageError` (never quoting credentials) when the endpoint is missing or a
    setting is malformed.
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

    access_key = secret_key = session_token = key_variable = None
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
        key_variable = key_var
        break

    return S3Settings(
        host=host,
        secure=secure,
        source=source,
        access_key=access_key,
        secret_key=secret_key,
        session_token=session_token,
        key_variable=key_variable,
        region=_env(env, "AWS_REGION") or _env(env, "AWS_DEFAULT_REGION"),
    )


def http_pool(
    *, retries: int = 3, connect_timeout: float = 10.0, read_timeout: float = 300.0
) -> urllib3.PoolManager:
    """The HTTP connection pool of an S3 client: timeouts, and retries of 5xx answers."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        retries=urllib3.Retry(
            total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
        ),
    )


def s3_client(settings: S3Settings, *, http: urllib3.PoolManager | None = None) -> Minio:
    """A ``minio.Minio`` client for ``settings``, over ``http`` (default: :func:`http_pool`)."""
    try:
        return Minio(
            settings.host,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            session_token=settings.session_token,
            secure=settings.secure,
            region=settings.region,
            http_client=http if http is not None else http_pool(),
        )
    except ValueError as exc:
        raise StorageError(
            f"{settings.source}={settings.host!r} (region {settings.region!r}) is not usable "
            f"as an S3 endpoint: {exc}"
        ) from exc


def s3_client_from_env(
    env: Mapping[str, str] | None = None,
    *,
    retries: int = 3,
    connect_timeout: float = 10.0,
    read_timeout: float = 300.0,
) -> Minio:
    """Build a ``minio.Minio`` client from environment variables (``os.environ`` by default).

    The variables are those of :func:`s3_settings_from_env`; ``retries`` and the timeouts tune
    the HTTP client. Raises :class:`StorageError` (never quoting credentials) when the endpoint
    is missing or a setting is malformed.
    """
    pool = http_pool(retries=retries, connect_timeout=connect_timeout, read_timeout=read_timeout)
    return s3_client(s3_settings_from_env(env), http=pool)


def _error_of(response: urllib3.BaseHTTPResponse) -> MinioException:
    """The error an S3 server answered with, as the minio SDK would raise it."""
    body = response.data or b""
    if body.lstrip().startswith(b"<"):
        try:
            return S3Error.fromxml(response)
        except ParseError:
            pass
    if response.status >= 500:
        return ServerError(f"HTTP {response.status} from the server", response.status)
    text = body.decode("utf-8", errors="replace")
    return InvalidResponseError(response.status, response.headers.get("content-type"), text)


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

    The ``minio`` client is injected (``client``) or built from ``settings`` (default:
    :func:`s3_settings_from_env`). ``settings`` also name the endpoint in messages and say which
    credentials to mask there; an injected client without them is described as such. ``http``
    is the connection pool of the conditional PUT (default: the built client's, or a new
    :func:`http_pool`). The store uses only the client's public API.

    The bucket is created on the first write when ``create_bucket`` is true. Puts are atomic on
    the server side; downloads go through a temp file next to the local target.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Minio | None = None,
        *,
        create_bucket: bool = True,
        settings: S3Settings | None = None,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        """Root the store at ``prefix`` inside ``bucket``; see the class docstring."""
        why = validate_bucket_name(bucket)
        if why is not None:
            raise StorageError(f"invalid S3 bucket for store s3://{bucket}/{prefix}: {why}")
        self.bucket = bucket
        self.prefix = normalize_prefix("/".join(seg for seg in prefix.split("/") if seg))
        if client is None:
            settings = settings if settings is not None else s3_settings_from_env()
            http = http if http is not None else http_pool()
            client = s3_client(settings, http=http)
        self.client = client
        self.settings = settings
        self._http = http
        self.create_bucket = create_bucket
        self.endpoint = settings.endpoint if settings is not None else "<injected client>"
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._bucket_state: dict[str, bool] = {"ready": False}

    def __repr__(self) -> str:
        return f"S3Store(uri={self.uri!r}, endpoint={self.endpoint!r})"

    # -- helpers -------------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return join_key(self.prefix, validate_key(key))

    def _redact(self, text: str) -> str:
        """Mask credentials in text that came from the server or the SDK."""
        for secret in self.settings.secrets() if self.settings is not None else []:
            text = text.replace(secret, "***")
        return text

    def _pool(self) -> urllib3.PoolManager:
        if self._http is None:
            self._http = http_pool()
        return self._http

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

    def size(self, key: str) -> int:
        """The object's length from ``stat_object`` (a HEAD request)."""
        name = self._name(key)
        with self._errors("read", key):
            return int(self.client.stat_object(self.bucket, name).size or 0)
        raise AssertionError("unreachable")  # pragma: no cover

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """One ranged ``get_object`` (an HTTP ``Range`` request): only these bytes travel."""
        check_range(start, length)
        if length == 0:
            return b""
        name = self._name(key)
        response: Any = None
        with self._errors("read", key):
            try:
                response = self.client.get_object(self.bucket, name, offset=start, length=length)
                return bytes(response.read())
            except S3Error as exc:
                if exc.code == "InvalidRange":  # a range starting at or past the end
                    return b""
                raise
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

        MinIO and S3 evaluate the condition atomically on the server. minio 7.2's
        ``put_object`` cannot send a request header (it turns unknown ones into ``x-amz-meta-*``
        user metadata), so the PUT is presigned with the client's credentials
        (``presigned_put_object``) and sent here with the header added. Once sent it is not
        retried: a retry after a lost answer would report this very write as someone else's.
        """
        name = self._name(key)
        payload = bytes(data)
        self._ensure_bucket()
        with self._errors("create", key):
            url = self.client.presigned_put_object(self.bucket, name, expires=_PRESIGN_EXPIRY)
            response = self._pool().request(
                "PUT",
                url,
                body=payload,
                headers={"If-None-Match": "*", "Content-Type": "application/octet-stream"},
                retries=urllib3.Retry(connect=2, read=False, redirect=False, status=0, other=0),
            )
            if 200 <= response.status < 300:
                return True
            if response.status == 412:  # the only precondition sent: the key exists
                return False
            error = _error_of(response)
            if isinstance(error, S3Error) and error.code in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return False
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

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
            settings=self.settings,
            http=self._pool(),
        )
        store._bucket_state = self._bucket_state
        return store
