"""Object storage for trainpipe: one interface over local directories and S3/MinIO buckets.

Use :func:`open_store` with a local path, ``file:///abs/path``, ``s3://bucket/prefix`` or
``minio://bucket/prefix`` to get an :class:`ObjectStore`.
"""
