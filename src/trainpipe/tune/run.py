"""``trainpipe tune``: a whole tuning study on this machine, with parallel worker processes.

Ingests and splits the configured data once (kept beside the result, so a re-run resumes on the
same splits), creates the study, starts ``tune.parallel_trials`` worker processes on it, and
writes the fan-in: a JSON result and an HTML report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.data.prepare import prepare_splits
from trainpipe.train.spec import TrainSpec
from trainpipe.tune.study import setup_study
from trainpipe.tune.summary import summarize
from trainpipe.tune.warm_start import warm_start_for
from trainpipe.tune.worker import Log


@dataclass(kw_only=True)
class TuneRun:
    """Where a local tuning run keeps its study, data and results."""

    output: Path
    storage: str
    study_name: str

    @property
    def data_dir(self) -> Path:
        """The ingested splits, reused by a re-run."""
        return self.output.with_name(self.output.stem + "-data")

    @property
    def report(self) -> Path:
        """The HTML report beside the JSON result."""
        return self.output.with_suffix(".html")


def run_study(
    config: RunConfig,
    run: TuneRun,
    *,
    workers: int | None = None,
    log: Log = print_line,
) -> dict[str, Any]:
    """Run the study with parallel worker processes and write its result and report."""
    from trainpipe.tune.report import render_tuning_report

    run.output.parent.mkdir(parents=True, exist_ok=True)
    data = prepare_splits(config, run.data_dir)
    first = warm_start_for(config)
    if first.notice:
        log(f"[trainpipe] {first.notice}")
    setup_study(config.tune, seed=config.seed, study_name=run.study_name, storage=run.storage,
                first=first.params, first_from=first.source)  # fmt: skip
    spec = TrainSpec(
        config=config, train_data=data["train"], validation_data=data["validation"], output=""
    )
    spec_path = run.output.with_name(run.output.stem + "-spec.json")
    spec_path.write_text(spec.to_json(), encoding="utf-8")
    count = workers or config.tune.parallel_trials
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "trainpipe.tune", "--spec", str(spec_path),
             "--storage", run.storage, "--study", run.study_name, "--worker", str(i)],
        )
        for i in range(count)
    ]  # fmt: skip
    codes = [proc.wait() for proc in procs]
    if any(codes):
        log(f"[trainpipe] tuning worker exit codes {codes}; summarizing what finished")
    summary = summarize(config, storage=run.storage, study_name=run.study_name).to_dict()
    summary |= {"study": run.study_name, "storage": run.storage, "report": str(run.report)}
    run.output.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    run.report.write_text(
        render_tuning_report(summary, title=f"trainpipe tuning: {run.study_name}"),
        encoding="utf-8",
    )
    return summary
