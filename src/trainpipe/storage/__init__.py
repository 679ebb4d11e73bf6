"""Object storage for trainpipe: one interface over local directories and S3/MinIO buckets.

Use :func:`open_store` with a local path, ``file:///abs/path``, ``s3://bucket/prefix`` or
``minio://bucket/prefix`` to get an :class:`ObjectStore`.
"""

from __future__ import annotations

from trainpipe.storage.base import BaseStore, ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.storage.local import LocalStore
from trainpipe.storage.s3 import S3Store, s3_client_from_env
from trainpipe.storage.uri import StoreURI, is_remote_uri, join_uri, parse_uri

__all__ = [
    "BaseStore",
    "LocalStore",
    "ObjectStore",
    "S3Store",
    "StoreURI",
    "is_remote_uri",
    "join_uri",
    "open_store",
    "parse_uri",
    "s3_client_from_env",
]
