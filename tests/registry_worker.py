"""Registers one model in its own process: ``python tests/registry_worker.py STORE MODEL_DIR``.

With ``SLOW_WRITES=seconds`` every store write sleeps first, so a test can kill the process in
the middle of an upload.
"""

import os
import sys
import time

from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry
from trainpipe.storage.local import LocalStore
from trainpipe.storage.s3 import S3Store


def main() -> None:
    store, model_dir = sys.argv[1], sys.argv[2]
    delay = float(os.environ.get("SLOW_WRITES", "0"))
    if delay:
        for cls in (LocalStore, S3Store):
            original = cls.write_bytes

            def slow(self, key, data, _original=original):  # type: ignore[no-untyped-def]
                time.sleep(delay)
                return _original(self, key, data)

            cls.write_bytes = slow  # type: ignore[method-assign]
    lineage = build_lineage(config={"seed": 1}, data_hash="h", metrics={"accuracy": 0.9})
    version = ModelRegistry.open(store).register("racer", model_dir, lineage=lineage)
    print(version.version, flush=True)


if __name__ == "__main__":
    main()
