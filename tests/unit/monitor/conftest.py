"""Fixtures of the monitoring tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pushgateway_stub import Gateway, recording_gateway


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """A recording Pushgateway stand-in on a free loopback port."""
    with recording_gateway() as found:
        yield found
