"""The one training entrypoint: ``python -m trainpipe.train --spec SPEC``.

Run it as one process or under torchrun (local backend, PyTorchJob and TrainJob pods alike): the
topology comes from the environment only. ``SPEC`` is the JSON document of a
:class:`~trainpipe.train.spec.TrainSpec`, inline or as a file path; ``TRAINPIPE_TRAIN_SPEC`` may
hold it instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from trainpipe.console import print_line
from trainpipe.errors import TrainpipeError
from trainpipe.shutdown import skip_final_collection
from trainpipe.train.distributed import context_from_env, teardown
from trainpipe.train.guards import RETRYABLE_EXIT_CODE, Preempted
from trainpipe.train.loop import run_training
from trainpipe.train.lost_peer import LOST_PEER_EXIT_CODE, lost_peer
from trainpipe.train.spec import SPEC_ENV, TrainSpec
from trainpipe.usercode.activation import activate_code


def main(argv: list[str] | None = None) -> int:
    """Parse the spec, join the process group, train, and always tear the group down."""
    parser = argparse.ArgumentParser(prog="python -m trainpipe.train", description=__doc__)
    parser.add_argument("--spec", default=os.environ.get(SPEC_ENV, ""))
    args = parser.parse_args(argv)
    skip_final_collection()
    if not args.spec:
        parser.error("--spec (or TRAINPIPE_TRAIN_SPEC) is required")
    try:
        spec = TrainSpec.load(args.spec)
        activate_code(spec.config)  # the user's code, fetched by digest, before any import
        ctx = context_from_env(timeout_seconds=spec.config.train.timeout_seconds)
        try:
            run_training(spec, ctx, log=print_line, serve_metrics=True)
        finally:
            teardown()
    except Preempted as exc:
        print(f"[trainpipe] preempted: {exc}; checkpoint written, exiting for a retry", flush=True)
        return RETRYABLE_EXIT_CODE
    except TrainpipeError as exc:
        print(f"trainpipe.errors.{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:
        if not lost_peer(exc):
            raise  # a crash: its traceback, exit 1
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        print(
            f"[trainpipe] lost a peer: a collective failed ({first}); exiting "
            f"{LOST_PEER_EXIT_CODE} for a retry from the newest checkpoint",
            file=sys.stderr,
            flush=True,
        )
        return LOST_PEER_EXIT_CODE
    return 0


if __name__ == "__main__":
    sys.exit(main())
