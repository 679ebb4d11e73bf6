"""Data workers start from the fork server: not children of the process that asks for them."""

from __future__ import annotations

import os
import threading

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
