"""Open an object store from a URI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainpipe.storage.base import ObjectStore
from trainpipe.storage.local import LocalStore
from trainpipe.storage.uri import parse_uri

if TYPE_CHECKING:
    from minio import Minio

__all__ = ["open_store"]


def open_store(uri: str, *, s3_client: Minio | None = None) -> ObjectStore:
    """Open the store named by ``uri`` (a local path, ``file://``, ``s3://`` or ``minio://``).

    S3 stores use ``s3_client`` when given, else a client built by
    :func:`trainpipe.storage.s3.s3_client_from_env`. Raises :class:`StorageError` for a bad URI.
    """
    parsed = parse_uri(uri)
    if parsed.scheme == "file":
        return LocalStore(parsed.path)
    from trainpipe.storage.s3 import S3Store

    return S3Store(parsed.bucket, parsed.prefix, client=s3_client)
