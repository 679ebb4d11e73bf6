"""Parse and build store URIs.

A store URI names the root of an object store. Accepted forms:

* a plain local path, relative or absolute (``runs/exp1``, ``/data/runs``), resolved to absolute;
* ``file:///abs/path`` (``file://localhost/abs/path`` too);
* ``s3://bucket/optional/prefix``;
* ``minio://bucket/optional/prefix`` (an alias of ``s3://``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from trainpipe.errors import StorageError

__all__ = ["StoreURI", "is_remote_uri", "join_uri", "parse_uri", "validate_bucket_name"]

ACCEPTED_FORMS = (
    "a local path (relative or absolute), file:///abs/path, s3://bucket/prefix "
    "or minio://bucket/prefix"
)

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_S3_SCHEMES = ("s3", "minio")


@dataclass(frozen=True)
class StoreURI:
    """A parsed store URI.

    ``scheme`` is ``"file"`` (then ``path`` is the absolute root directory) or ``"s3"`` (then
    ``bucket`` and ``prefix`` are set; ``prefix`` has no leading or trailing slash and may be
    empty). ``minio://`` URIs parse to ``scheme="s3"``.
    """

    scheme: Literal["file", "s3"]
    bucket: str = ""
    prefix: str = ""
    path: str = ""

    @property
    def is_remote(self) -> bool:
        """True for object-store (S3/MinIO) URIs, False for local directories."""
        return self.scheme == "s3"

    def __str__(self) -> str:
        """Canonical form: the absolute path for local stores, ``s3://bucket/prefix`` else."""
        if self.scheme == "file":
            return self.path
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def _redact(uri: str) -> str:
    """Hide any ``user:password@`` part of a URI before it goes into a message."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@", r"\1***@", uri)


def _bad(uri: str, why: str) -> StorageError:
    return StorageError(
        f"invalid store URI {_redact(uri)!r}: {why}; accepted forms: {ACCEPTED_FORMS}"
    )


def validate_bucket_name(bucket: str) -> str | None:
    """Return why ``bucket`` breaks the S3 bucket naming rules, or None when it is valid."""
    if not 3 <= len(bucket) <= 63:
        return f"bucket name {bucket!r} must be 3 to 63 characters long"
    if not _BUCKET_RE.match(bucket):
        return (
            f"bucket name {bucket!r} may only hold lowercase letters, digits, '.' and '-', "
            "and must start and end with a letter or digit"
        )
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return f"bucket name {bucket!r} must not contain '..', '.-' or '-.'"
    if _IPV4_RE.match(bucket):
        return f"bucket name {bucket!r} must not be formatted as an IP address"
    if bucket.startswith(_BUCKET_BAD_PREFIXES) or bucket.endswith(_BUCKET_BAD_SUFFIXES):
        return f"bucket name {bucket!r} uses a prefix or suffix that S3 reserves"
    return None


def _normalize_prefix(uri: str, raw: str) -> str:
    segments = [s for s in unquote(raw).split("/") if s]
    for seg in segments:
        if seg in (".", ".."):
            raise _bad(uri, f"the prefix must not contain a {seg!r} segment")
    return "/".join(segments)


def parse_uri(uri: str) -> StoreURI:
    """Parse a store URI (see the module docstring for the accepted forms).

    Raises :class:`StorageError` naming the URI and the accepted forms when it is malformed.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise _bad(str(uri), "it is empty")
    uri = uri.strip()
    match = _SCHEME_RE.match(uri)
    if match is None:
        return StoreURI(scheme="file", path=os.path.abspath(os.path.expanduser(uri)))
    scheme = match.group(1).lower()
    parts = urlsplit(uri)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _bad(uri, "a file URI needs an absolute path, as in file:///abs/path")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise _bad(uri, "a file URI needs an absolute path, as in file:///abs/path")
        return StoreURI(scheme="file", path=os.path.abspath(path))
    if scheme in _S3_SCHEMES:
        bucket = parts.netloc
        if "@" in bucket:
            raise _bad(
                uri,
                "it must not embed credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "(or MINIO_ACCESS_KEY/MINIO_SECRET_KEY) instead",
            )
        if not bucket:
            raise _bad(uri, "it names no bucket, as in s3://bucket/prefix")
        if parts.query or parts.fragment:
            raise _bad(uri, "it must not have a query string or fragment")
        why = validate_bucket_name(bucket)
        if why is not None:
            raise _bad(uri, why)
        return StoreURI(scheme="s3", bucket=bucket, prefix=_normalize_prefix(uri, parts.path))
    raise _bad(uri, f"unknown scheme {scheme + '://'!r}")


def is_remote_uri(uri: str) -> bool:
    """True when ``uri`` names an S3/MinIO store, False for a local path.

    Raises :class:`StorageError` when ``uri`` is not a valid store URI.
    """
    return parse_uri(uri).is_remote


def join_uri(base: str, *parts: str) -> str:
    """Append '/'-separated ``parts`` to the store URI ``base``, keeping the form of ``base``.

    ``join_uri("s3://b/runs", "exp1", "model/") == "s3://b/runs/exp1/model"``. Empty parts
    and surrounding slashes are dropped; a ``..`` segment raises :class:`StorageError`.
    """
    parse_uri(base)
    segments: list[str] = []
    for part in parts:
        for seg in part.split("/"):
            if seg == "..":
                raise StorageError(
                    f"cannot join {part!r} onto store URI {_redact(base)!r}: '..' is not allowed"
                )
            if seg and seg != ".":
                segments.append(seg)
    if not segments:
        return base
    joined = "/".join(segments)
    return base + joined if base.endswith("/") else f"{base}/{joined}"
