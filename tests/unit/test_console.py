"""print_line keeps concurrent lines whole."""

from __future__ import annotations

import threading

import pytest

from trainpipe.console import print_line

pytestmark = pytest.mark.unit


def test_lines_from_many_threads_stay_whole(capsys: pytest.CaptureFixture[str]) -> None:
    expected = {
        f'{{"event": "anomaly", "thread": {t}, "line": {i}}}' for t in range(8) for i in range(300)
    }

    def write(thread: int) -> None:
        for i in range(300):
            print_line(f'{{"event": "anomaly", "thread": {thread}, "line": {i}}}')

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(expected)
    assert set(lines) == expected
