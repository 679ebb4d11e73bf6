"""Data workers start from the fork server: not children of the process that asks for them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from torch.utils.data import DataLoader, Dataset

from trainpipe.data.worker_processes import worker_context

pytestmark = pytest.mark.unit


class ParentOf(Dataset[int]):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int:
        return os.getppid()


def test_a_loader_worker_is_forked_by_the_server_while_this_process_runs_threads() -> None:
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait)  # a rank has threads when its loaders start
    busy.start()
    try:
        context = worker_context(__name__)
        assert context.get_start_method() == "forkserver"
        loader = DataLoader(
            ParentOf(), batch_size=None, num_workers=1, multiprocessing_context=context
        )
        parents = {int(parent) for parent in loader}
    finally:
        stop.set()
        busy.join()
    assert len(parents) == 1 and parents != {os.getpid()}  # the server forked the worker


CLIENT = """
import os, sys, time
from functools import partial
from torch.utils.data import DataLoader
from trainpipe.data.worker_processes import exit_with, worker_context

class Pid:
    def __len__(self): return 10**6
    def __getitem__(self, index): return os.getpid()

if __name__ == "__main__":
    loader = DataLoader(Pid(), batch_size=None, num_workers=1, persistent_workers=True,
                        multiprocessing_context=worker_context(),
                        worker_init_fn=partial(exit_with, os.getpid()))
    print(next(iter(loader)), flush=True)
    time.sleep(600)
"""


def test_the_workers_of_a_killed_client_exit_and_take_the_fork_server_with_them(
    tmp_path: Path,
) -> None:
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    client = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    worker = psutil.Process(int(client.stdout.readline()))
    server = worker.parent()
    assert server is not None and server.pid != client.pid
    client.kill()  # no loader shutdown: what a SIGKILLed rank leaves
    client.wait()
    _, alive = psutil.wait_procs([worker, server], timeout=20)
    assert not alive, f"still running: {alive}"
