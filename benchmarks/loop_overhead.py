"""What trainpipe's training loop costs over a bare PyTorch loop of the same work.

Both arms train the digits CNN (``pipelines/configs/digits.yaml``: the model, batch size,
optimizer, learning rate, weight decay, warm-up, gradient clipping and epochs) on the same
preprocessed tensors, each in its own process with one thread:

- bare: the loop a PyTorch tutorial writes, with the config's recipe: shuffle, forward,
  cross-entropy, backward, ``clip_grad_norm_``, AdamW step, the warm-up then cosine learning
  rate; a validation pass after each epoch;
- trainpipe: :func:`trainpipe.train.loop.run_training` as ``trainpipe train --backend
  inprocess`` runs it, with everything on: a checkpoint after every epoch, the non-finite and
  stop guards, the training monitor (step metrics, resource sampler, anomaly detectors) and
  the model artifact at the end.

The two processes take turns, an epoch each (a pipe hands the turn over), so a burst of another
tenant's load on this shared machine falls on neighbouring epochs of both arms rather than on
one arm's whole run, and both arms' training threads run on the same core (trainpipe's helper
threads, the checkpoint writer's and the monitor's, are not pinned). An epoch is timed from the
moment its arm gets the turn to the end of the epoch (its steps, its validation pass and, for
trainpipe, its checkpoint); the first epoch of each arm, which runs before the turns start, is
not counted, nor are the import and the data loading, which differ. Each pair of neighbouring
epochs gives a ratio of samples/s (and of samples per CPU-second: the process's CPU time, every
thread of it); a run's figure is the median of its pairs, and over ``--repeats`` runs (in fresh
processes, the arm that starts alternating) it prints each run and the median. ``--tutorial``
drops clipping and the learning-rate schedule from the bare arm (the loop without the config's
recipe), for reference. The issue's target: trainpipe >= 0.95x the bare loop's samples/s.

    .venv/bin/python benchmarks/loop_overhead.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "digits.yaml"

TURNS = """
import os, time
_go, _done = int(os.environ["TURN_GO"]), int(os.environ["TURN_DONE"])
ends, resumes = [], []


def turn(epoch, epochs):
    # the epoch ended: hand the turn over, and wait for it back unless this was the last
    if not ends:  # this thread, not the process: trainpipe's helper threads stay unpinned
        os.sched_setaffinity(0, {int(os.environ["TURN_CPU"])})
    ends.append((time.perf_counter(), time.process_time()))
    os.write(_done, b".")
    if epoch + 1 < epochs:
        os.read(_go, 1)
        resumes.append((time.perf_counter(), time.process_time()))
"""

BARE = (
    TURNS
    + """
import json, math, sys
import torch
import torch.nn.functional as F
from trainpipe.models import build_model
from trainpipe.train.data import load_tensors
from trainpipe.train.optim import learning_rate_at
from trainpipe.train.spec import TrainSpec

args = json.loads(sys.argv[1])
torch.set_num_threads(1)
spec = TrainSpec.from_json(args["spec"])
config = spec.config
train, val, preprocess, schema = load_tensors(spec)
torch.manual_seed(config.seed)
model = build_model(config.model, preprocess.width, len(schema.classes), task=config.task,
                    feature_names=preprocess.input_names, classes=schema.classes)
optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.learning_rate,
                              weight_decay=config.train.weight_decay)
batch, epochs = config.train.batch_size, config.train.epochs
per_epoch = math.ceil(len(train.x) / batch)
recipe = not args["tutorial"]
schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_at(
    config, step, epochs * per_epoch, per_epoch) / config.train.learning_rate if recipe else 1.0)
for epoch in range(epochs):
    model.train()
    order = torch.randperm(len(train.x))
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        loss = F.cross_entropy(model(train.x[rows]), train.y[rows])
        optimizer.zero_grad()
        loss.backward()
        if recipe:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
        optimizer.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum())
                      for x, y in zip(val.x.split(1024), val.y.split(1024)))
    turn(epoch, epochs)
print(json.dumps({"ends": ends, "resumes": resumes, "rows": len(train.x),
                  "val_accuracy": correct / len(val.x)}))
"""
)

TRAINPIPE = (
    TURNS
    + """
import json, sys
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import run_training
from trainpipe.train.spec import TrainSpec
from trainpipe.train import loop

args = json.loads(sys.argv[1])
spec = TrainSpec.from_json(args["spec"])
fit = loop.fit
def timed(*a, **k):
    given = k.pop("on_epoch", None)
    def on_epoch(epoch, row):
        if given is not None:
            given(epoch, row)
        turn(epoch, spec.config.train.epochs)
    return fit(*a, on_epoch=on_epoch, **k)
loop.fit = timed
run_training(spec, DistContext(), log=lambda line: None)
metrics = json.load(open(spec.output + "/metrics.json"))
print(json.dumps({"ends": ends, "resumes": resumes, "rows": args["rows"],
                  "val_accuracy": metrics["history"][-1]["val_accuracy"]}))
"""
)


class Arm:
    """One arm's process, which trains an epoch each time it gets the turn."""

    def __init__(self, name: str, code: str, payload: dict[str, Any], scratch: Path) -> None:
        self.name = name
        go_read, self.go = os.pipe()
        self.done, done_write = os.pipe()
        self.out = (scratch / f"{name}.out").open("w+")
        self.err = (scratch / f"{name}.err").open("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(payload)],
            env={
                **os.environ,
                "TURN_GO": str(go_read),
                "TURN_DONE": str(done_write),
                "TURN_CPU": str(min(os.sched_getaffinity(0))),
            },
            pass_fds=(go_read, done_write),
            stdout=self.out,
            stderr=self.err,
        )
        os.close(go_read)
        os.close(done_write)

    def wait_epoch(self) -> None:
        """Block until the arm has finished its current epoch."""
        if not os.read(self.done, 1):
            self.process.wait()
            self.err.seek(0)
            raise SystemExit(f"the {self.name} arm stopped:\n{self.err.read()[-3000:]}")

    def take_turn(self) -> None:
        """Let the arm train its next epoch, and wait until it has."""
        os.write(self.go, b".")
        self.wait_epoch()

    def figures(self) -> dict[str, Any]:
        """What the arm printed when it finished, and its per-epoch times (each epoch from
        its turn to its end)."""
        if self.process.wait() != 0:
            self.err.seek(0)
            raise SystemExit(f"the {self.name} arm failed:\n{self.err.read()[-3000:]}")
        for fd in (self.go, self.done):
            os.close(fd)
        self.out.seek(0)
        figures: dict[str, Any] = json.loads(self.out.read().strip().splitlines()[-1])
        self.out.close()
        self.err.close()
        pairs = list(zip(figures["resumes"], figures["ends"][1:], strict=True))
        figures["wall"] = [end[0] - begun[0] for begun, end in pairs]
        figures["cpu"] = [end[1] - begun[1] for begun, end in pairs]
        return figures


def run_pair(
    bare_payload: dict[str, Any],
    ours_payload: dict[str, Any],
    *,
    epochs: int,
    bare_first: bool,
    scratch: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both arms, taking turns an epoch each; their figures (bare, trainpipe)."""
    bare = Arm("bare", BARE, bare_payload, scratch)
    ours = Arm("trainpipe", TRAINPIPE, ours_payload, scratch)
    for arm in (bare, ours):
        arm.wait_epoch()  # the first epoch, which each arm trains as soon as it is ready
    order = (bare, ours) if bare_first else (ours, bare)
    for _ in range(epochs - 1):
        for arm in order:
            arm.take_turn()
    return bare.figures(), ours.figures()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5, help="runs of the pair of arms")
    parser.add_argument(
        "--tutorial",
        action="store_true",
        help="the bare arm without gradient clipping and the learning-rate schedule",
    )
    args = parser.parse_args()

    from trainpipe.config import load_config
    from trainpipe.data.prepare import prepare_splits
    from trainpipe.train.data import load_tensors
    from trainpipe.train.spec import TrainSpec

    root = Path(tempfile.mkdtemp(prefix="loop-overhead-"))
    overrides = [f"train.epochs={args.epochs}", "train.nproc_per_node=1", "train.num_threads=1",
                 "train.backend=inprocess"]  # fmt: skip
    config = load_config(CONFIG, overrides)
    splits = prepare_splits(config, root)

    def spec(out: str) -> str:
        return TrainSpec(config=config, train_data=splits["train"],
                         validation_data=splits["validation"], output=out).to_json()  # fmt: skip

    rows = len(load_tensors(TrainSpec.from_json(spec(str(root / "probe"))))[0].x)
    recipe = "no clipping, constant learning rate" if args.tutorial else (
        f"clipping at {config.train.grad_clip}, {config.train.warmup_epochs} warm-up epoch(s) "
        "then cosine")  # fmt: skip
    print(f"digits CNN, {rows} training rows, batch {config.train.batch_size}, "
          f"{args.epochs} epochs, 1 process, 1 thread, the arms taking turns an epoch each; "
          f"bare loop: {recipe}")  # fmt: skip
    runs: list[float] = []
    cpu_runs: list[float] = []
    for repeat in range(args.repeats):
        scratch = root / f"run-{repeat}"
        scratch.mkdir()
        bare, ours = run_pair(
            {"spec": spec(str(scratch / "bare")), "tutorial": args.tutorial},
            {"spec": spec(str(scratch / "trainpipe")), "rows": rows},
            epochs=args.epochs,
            bare_first=repeat % 2 == 0,
            scratch=scratch,
        )
        ratio = statistics.median(b / o for b, o in zip(bare["wall"], ours["wall"], strict=True))
        cpu = statistics.median(b / o for b, o in zip(bare["cpu"], ours["cpu"], strict=True))
        runs.append(ratio)
        cpu_runs.append(cpu)
        for name, figures in (("bare loop", bare), ("trainpipe", ours)):
            print(f"{repeat + 1}: {name:10s} {rows / statistics.median(figures['wall']):>9,.0f} "
                  f"samples/s  {rows / statistics.median(figures['cpu']):>9,.0f} samples/CPU-s  "
                  f"val accuracy {figures['val_accuracy']:.3f}")  # fmt: skip
        print(f"{repeat + 1}: trainpipe / bare loop, median of {len(bare['wall'])} neighbouring "
              f"epochs: {ratio:.3f} samples/s, {cpu:.3f} samples/CPU-s")  # fmt: skip
    print(f"samples/s ratio trainpipe / bare loop: median {statistics.median(runs):.3f} of "
          f"{[round(r, 3) for r in runs]} (target >= 0.95)")  # fmt: skip
    print(f"samples per CPU-second, the same ratio: median {statistics.median(cpu_runs):.3f} of "
          f"{[round(r, 3) for r in cpu_runs]} (every thread of the process counted: the "
          "checkpoint writer's and the monitor's too)")  # fmt: skip


if __name__ == "__main__":
    main()
