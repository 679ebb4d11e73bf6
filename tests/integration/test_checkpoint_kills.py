"""A checkpoint write killed at any byte leaves the previous checkpoint loadable and the partial
one invisible: on a local disk and on S3 (moto's server on loopback), the writing process is
SIGKILLed at 22 points spread over the checkpoint's bytes, after its last byte (before the
rename or the end of the upload's answer) and while old checkpoints are pruned; after each kill,
a fresh restore loads a complete checkpoint, bit for bit the one it claims to be. An S3
endpoint that drops the connection in the middle of the upload makes the write fail cleanly
(or succeed on the client's retry), never leave a partial object."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from trainpipe.errors import StorageError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.local import LocalStore
from trainpipe.storage.s3 import S3Store, s3_settings_from_env
from trainpipe.train.checkpoint import Checkpointer, list_checkpoints
from trainpipe.train.distributed import DistContext
from trainpipe.train.state import TrainState

pytestmark = [pytest.mark.integration]

BYTE_POINTS = 22
"""Kill points spread over the checkpoint's bytes (0 .. all of them)."""


def trained(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A model and AdamW with moments: a checkpoint of about 400 KB."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.randn(8, 64)).square().sum().backward()
    optimizer.step()
    return model, optimizer


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


EXPECTED = {1: weights(trained(1)[0]), 2: weights(trained(2)[0])}


def write(store: ObjectStore, step: int, *, keep: int = 2) -> None:
    model, optimizer = trained(step)
    checkpoints = Checkpointer(store, DistContext(), keep=keep)
    checkpoints.save(TrainState(global_step=step), model, optimizer)
    checkpoints.close()


def killed_while(arm: Callable[[], None], store: Callable[[], ObjectStore], *, keep: int) -> None:
    """Fork a process that arms its kill (``arm``) and writes checkpoint 2; wait for it to be
    SIGKILLed."""
    pid = os.fork()
    if pid == 0:  # the writer: nothing it does may reach the parent but its files and uploads
        try:
            torch.set_num_threads(1)
            arm()
            write(store(), 2, keep=keep)
        finally:
            os._exit(3)  # the kill did not fire
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def assert_resumes_complete(store: ObjectStore) -> int:
    """A fresh restore loads the newest listed checkpoint, whole; return its step."""
    model, optimizer = trained(99)
    restored = Checkpointer(store, DistContext(), keep=2).restore(model, optimizer)
    assert restored is not None
    for name, tensor in EXPECTED[restored.global_step].items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert list_checkpoints(store)[-1] == restored.global_step
    return restored.global_step


def payload_size(store: ObjectStore) -> int:
    key = next(k for k in store.list() if k.endswith(".pt"))
    return store.size(key)


# -- local disk --------------------------------------------------------------------------------


def local_points(size: int) -> list[tuple[str, Callable[[], None]]]:
    """Each kill point on a local disk: after n bytes of the temp file, and while pruning."""

    def after(n: int) -> Callable[[], None]:
        def arm() -> None:
            def write_temp(self: LocalStore, fd: int, data: bytes) -> None:
                os.write(fd, data[:n])
                die()

            LocalStore._write_temp = write_temp  # type: ignore[method-assign]

        return arm

    def pruning() -> None:
        LocalStore.delete = lambda self, key: die()  # type: ignore[method-assign,assignment]

    points = [(f"byte {n}", after(n)) for n in _spread(size)]
    return [*points, ("pruning", pruning)]


def _spread(size: int) -> list[int]:
    return sorted({round(i * size / (BYTE_POINTS - 1)) for i in range(BYTE_POINTS)})


def test_a_kill_at_any_byte_of_a_local_checkpoint_write_leaves_a_complete_one(
    tmp_path: Path,
) -> None:
    probe = LocalStore(str(tmp_path / "probe"))
    write(probe, 1)
    points = local_points(payload_size(probe))
    assert len(points) >= 20
    resumed: list[int] = []
    for i, (where, arm) in enumerate(points):
        root = tmp_path / f"kill-{i}"
        write(LocalStore(str(root)), 1)
        killed_while(arm, lambda root=root: LocalStore(str(root)), keep=1)  # type: ignore[misc]
        store = LocalStore(str(root))
        step = assert_resumes_complete(store)
        resumed.append(step)
        assert step == (2 if where == "pruning" else 1), where
        write(store, 2, keep=1)  # what the kill left does not block the next write
        assert list_checkpoints(store) == [2]
    print(f"local: {len(points)} kill points, {len(resumed)} resumed from a complete checkpoint")


# -- S3 ----------------------------------------------------------------------------------------


def s3_points(size: int) -> list[tuple[str, Callable[[], None]]]:
    """Each kill point of an upload: after n bytes of the request body are on the wire, after
    the whole body (before the server's answer), and while pruning."""

    def after(n: int) -> Callable[[], None]:
        def arm() -> None:
            send = http.client.HTTPConnection.send

            def send_then_die(self: http.client.HTTPConnection, data: Any) -> None:
                if isinstance(data, bytes | bytearray | memoryview) and len(data) == size:
                    send(self, data[:n])
                    die()
                send(self, data)

            http.client.HTTPConnection.send = send_then_die  # type: ignore[method-assign]

        return arm

    def pruning() -> None:
        S3Store.delete = lambda self, key: die()  # type: ignore[method-assign,assignment]

    return [*[(f"byte {n}", after(n)) for n in _spread(size)], ("pruning", pruning)]


def test_a_kill_at_any_byte_of_an_s3_checkpoint_upload_leaves_a_complete_one(
    s3_env: dict[str, str],
) -> None:
    bucket = f"kills-{uuid.uuid4().hex[:8]}"
    probe = S3Store(bucket, "probe")
    write(probe, 1)
    size = payload_size(probe)
    points = s3_points(size)
    assert len(points) >= 20
    for i, (where, arm) in enumerate(points):
        prefix = f"kill-{i}"
        write(S3Store(bucket, prefix), 1)
        killed_while(arm, lambda prefix=prefix: S3Store(bucket, prefix), keep=1)  # type: ignore[misc]
        store = S3Store(bucket, prefix)
        step = assert_resumes_complete(store)
        # killed with every byte sent, the upload may have reached the server whole
        possible = {2} if where == "pruning" else {1, 2} if where == f"byte {size}" else {1}
        assert step in possible, where
    print(f"s3: {len(points)} kill points, each resumed from a complete checkpoint")


class DroppingProxy:
    """A TCP proxy to the S3 server that resets a connection once it has carried ``after``
    bytes of a request towards the server: ``times`` connections (then it passes them)."""

    def __init__(self, upstream: str, *, after: int, times: int) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.after, self.left = after, times
        self.dropped = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        carried = 0
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                carried += len(data)
                if carried > self.after and self.left > 0:
                    self.left -= 1
                    self.dropped += 1
                    for end in (client, upstream):  # a reset, not a clean close
                        end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                        end.close()
                    return
                upstream.sendall(data)

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                client.sendall(data)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def proxy(s3_env: dict[str, str]) -> Iterator[Callable[[int], DroppingProxy]]:
    made: list[DroppingProxy] = []

    def make(times: int) -> DroppingProxy:
        made.append(DroppingProxy(s3_env["host"], after=100_000, times=times))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_an_endpoint_that_drops_mid_upload_leaves_no_partial_checkpoint(
    proxy: Callable[[int], DroppingProxy],
) -> None:
    bucket = f"drops-{uuid.uuid4().hex[:8]}"
    direct = S3Store(bucket, "run")
    write(direct, 1)

    def through(p: DroppingProxy) -> S3Store:
        settings = dataclasses.replace(s3_settings_from_env(), host=p.host)
        return S3Store(bucket, "run", settings=settings)

    always = proxy(1_000)  # every upload of the checkpoint is cut: the write fails, cleanly
    with pytest.raises(StorageError):
        write(through(always), 2)
    assert always.dropped >= 1
    assert list_checkpoints(direct) == [1] and assert_resumes_complete(direct) == 1

    once = proxy(1)  # the first upload is cut: the client's retry stores it whole
    write(through(once), 2)
    assert once.dropped == 1
    assert list_checkpoints(direct) == [1, 2] and assert_resumes_complete(direct) == 2
