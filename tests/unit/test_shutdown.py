"""A process that skips its final garbage collection still ends as it should."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = """
import atexit, gc, sys

def last(path=sys.argv[1]):  # registered first, so it runs after skip_final_collection's handler
    print("frozen at exit:", gc.get_freeze_count() > 0, flush=True)
    with open(path, "w") as handle:
        handle.write("written at exit")

atexit.register(last)
from trainpipe.shutdown import skip_final_collection

skip_final_collection()
skip_final_collection()  # a second call changes nothing
print("frozen before exit:", gc.get_freeze_count() > 0)  # flushed by the interpreter
sys.exit(3)
"""


def test_the_collector_freezes_only_at_exit_and_the_exit_is_otherwise_unchanged(
    tmp_path: Path,
) -> None:
    out = tmp_path / "exit.txt"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["frozen before exit: False", "frozen at exit: True"]
    assert out.read_text() == "written at exit"
    assert done.stderr == ""
