"""The model registry: immutable numbered versions with lineage, on a directory or MinIO/S3."""
