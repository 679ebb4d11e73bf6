"""One tuning worker: ``python -m trainpipe.tune --spec SPEC --storage URL --study NAME``.

``SPEC`` is a TrainSpec JSON document (inline or a file path) naming the run config and the train
and validation datasets. ``trainpipe tune`` starts several of these against one study.
"""

from __future__ import annotations

import argparse
import signal
import sys

from trainpipe.errors import TrainpipeError
from trainpipe.train.spec import TrainSpec
from trainpipe.tune.heartbeat import WorkerStopped
from trainpipe.tune.worker import run_worker
from trainpipe.usercode.activation import activate_code


def main(argv: list[str] | None = None) -> int:
    """Run trials until the shared study's budget is used."""
    parser = argparse.ArgumentParser(prog="python -m trainpipe.tune", description=__doc__)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--worker", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        spec = TrainSpec.load(args.spec)
        activate_code(spec.config)
        result = run_worker(
            spec.config,
            train_data=spec.train_data,
            validation_data=spec.validation_data,
            storage=args.storage,
            study_name=args.study,
            worker=args.worker,
            log=lambda line: print(line, flush=True),
        )
    except TrainpipeError as exc:
        print(f"trainpipe.errors.{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, WorkerStopped) as exc:
        stopped_by = "SIGTERM" if isinstance(exc, WorkerStopped) else "SIGINT"
        print(f"[trainpipe] worker {args.worker} stopped by {stopped_by}", flush=True)
        return 128 + (signal.SIGTERM if isinstance(exc, WorkerStopped) else signal.SIGINT)
    print(f"[trainpipe] worker {args.worker} ran trials {result.trials}: {result.stop_reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
