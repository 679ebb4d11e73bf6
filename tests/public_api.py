"""A stand-in for an SDK client that lets the code under test use only the client's public API."""

from __future__ import annotations

from typing import Any


class PrivateAccessError(AssertionError):
    """The code under test touched a private attribute of an SDK client."""


class PublicApiOnly:
    """Wraps ``client``; reading any attribute whose name starts with ``_`` fails the test.

    Each such read raises :class:`PrivateAccessError` and is recorded in ``private_reads``, so
    code that swallows the error (``getattr(client, "_x", None)``, a broad ``except``) is still
    caught by a final ``assert proxy.private_reads == []``.
    """

    def __init__(self, client: Any) -> None:
        self.__client = client
        self.private_reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            self.private_reads.append(name)
            raise PrivateAccessError(
                f"the client's private attribute {name!r} was read: use the SDK's public API"
            )
        return getattr(self.__client, name)
