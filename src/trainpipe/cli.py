"""The ``trainpipe`` command line.

``trainpipe run`` runs the whole pipeline on this machine (kfp.local); ``compile`` writes the KFP
YAML; ``train`` runs ingest, split and the training job without the pipeline; ``registry`` lists
and shows registered models; ``predict`` scores a table with one. Errors print one line and exit
non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainpipe.errors import ConfigError, RegistryError, TrainpipeError
from trainpipe.shutdown import skip_final_collection

if TYPE_CHECKING:
    from trainpipe.config import RunConfig
    from trainpipe.launch.base import JobBackend


def _add_config_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--config", required=required, help="run config YAML")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=5 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="trainpipe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline locally with kfp.local")
    _add_config_args(run)
    run.add_argument("--run-dir", help="directory for this run (default runs/NAME-TIMESTAMP)")
    run.add_argument("--summary-out", help="where to write summary.json (default in the run dir)")
    run.add_argument("--verbose", action="store_true", help="stream every component's log")

    comp = sub.add_parser("compile", help="compile the pipeline to KFP YAML")
    comp.add_argument("--output", help="output YAML (default pipelines/compiled/...)")
    comp.add_argument("--image", help="image of every step and of the training pods")
    comp.add_argument(
        "--components-dir", help="where each component's YAML goes (default components/compiled/)"
    )
    _add_config_args(comp, required=False)

    submit = sub.add_parser("submit", help="upload the pipeline to Kubeflow and start a run")
    _add_config_args(submit, required=False)
    submit.add_argument("--host", help="Kubeflow Pipelines URL (default $KFP_HOST)")
    submit.add_argument("--experiment", default="trainpipe", help="experiment (default trainpipe)")
    submit.add_argument("--token", help="bearer token (prefer $KFP_TOKEN: flags show in ps)")
    submit.add_argument("--namespace", help="profile namespace (multi-user Kubeflow)")
    submit.add_argument("--image", help="image of every step and of the training pods")
    submit.add_argument(
        "--service-account",
        default="trainpipe-launcher",
        help="service account of the run's pods ('' for KFP's default)",
    )
    submit.add_argument("--run-name", help="run name (default NAME-GITSHA-TIME)")
    submit.add_argument("--pipeline-root", help="where KFP keeps the run's artifacts")

    doctor = sub.add_parser("doctor", help="explain what went wrong or looks suspicious in a run")
    doctor.add_argument(
        "run_path",
        metavar="RUN",
        help="a run directory, its summary.json, or a model directory of trainpipe train",
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")

    ingest = sub.add_parser("ingest", help="read, validate and clean the configured data")
    _add_config_args(ingest)
    ingest.add_argument("--output", required=True, help="directory or URI for the dataset")

    train = sub.add_parser("train", help="ingest, split and train without the pipeline")
    _add_config_args(train)
    train.add_argument("--output", required=True, help="directory or URI for the model")
    train.add_argument(
        "--backend", choices=["local", "inprocess", "pytorchjob", "trainjob"], help="job backend"
    )
    train.add_argument("--nodes", type=int, help="torchrun agents (nodes)")
    train.add_argument("--nproc-per-node", type=int, help="processes per node")
    train.add_argument(
        "--replay-membership",
        metavar="MODEL",
        help="train through the node membership history an elastic run recorded (the model "
        "directory or URI it wrote), as fixed-size local jobs: the same weights again",
    )

    tune = sub.add_parser("tune", help="run a tuning study locally, or render it for Katib")
    tune_sub = tune.add_subparsers(dest="tune_command")
    _add_config_args(tune, required=False)
    tune.add_argument("--output", help="result JSON (an HTML report is written beside it)")
    tune.add_argument("--study", help="study name (default tune.study_name or the run name)")
    tune.add_argument("--storage", help="Optuna storage URL (default a journal beside --output)")
    tune.add_argument("--workers", type=int, help="parallel workers (default tune.parallel_trials)")
    katib = tune_sub.add_parser("render-katib", help="print the Katib Experiment as YAML")
    _add_config_args(katib)
    katib.add_argument("--name", help="experiment name (default the run name)")
    katib.add_argument("--data", help="URI prefix of the train/ and validation/ datasets")
    katib.add_argument("--output", help="URI prefix for the trials' models")
    optimization = tune_sub.add_parser(
        "render-optimizationjob", help="print the Trainer v2.3 OptimizationJob as YAML"
    )
    _add_config_args(optimization)
    optimization.add_argument("--name", help="job name (default the run name)")
    optimization.add_argument("--data", help="URI prefix of the train/ and validation/ datasets")
    optimization.add_argument("--output", help="URI prefix for the trials' models")

    job = sub.add_parser("job", help="training jobs on a cluster")
    job_sub = job.add_subparsers(dest="job_command", required=True)
    render = job_sub.add_parser("render", help="print the PyTorchJob or TrainJob as YAML")
    render.add_argument("--backend", choices=["pytorchjob", "trainjob"], default="pytorchjob")
    _add_config_args(render)
    render.add_argument("--data", help="URI prefix of the train/ and validation/ datasets")
    render.add_argument("--output", help="URI where the job writes the model")
    render.add_argument("--run-id", default="", help="pipeline run id (names the job)")

    predict = sub.add_parser("predict", help="score a CSV/Parquet/JSONL table with a model")
    predict.add_argument(
        "--model",
        required=True,
        help="NAME, NAME:VERSION or NAME@ALIAS in the registry, or a model directory or URI "
        "(a path with a '/', or starting with '.' or '~')",
    )
    predict.add_argument("--input", required=True, help="table to score (.csv, .parquet, .jsonl)")
    predict.add_argument("--output", required=True, help="scored table (format by its suffix)")
    predict.add_argument("--store", help="registry URI (default: the config's registry.uri)")
    _add_config_args(predict, required=False)

    registry = sub.add_parser("registry", help="the model registry")
    reg_sub = registry.add_subparsers(dest="registry_command", required=True)
    commands = {
        "register": "register a model directory written by trainpipe train",
        "list": "list models, versions and aliases",
        "show": "show one version with its lineage",
        "promote": "point an alias (champion by default) at a version",
        "rollback": "point an alias back at its previous version",
        "download": "verify a version and copy its files into a directory",
        "verify": "recompute every file's sha256 against the manifest",
        "load-test": "verify, load and time single-sample predictions",
    }
    for name, help_text in commands.items():
        cmd = reg_sub.add_parser(name, help=help_text)
        if name == "register":
            cmd.add_argument("--name", required=True, help="model name")
            cmd.add_argument("--model-dir", required=True, help="directory or URI of the model")
        elif name == "rollback":
            cmd.add_argument("model", help="NAME")
        elif name != "list":
            cmd.add_argument("model", help="NAME, NAME:VERSION or NAME@ALIAS")
        if name in ("promote", "rollback"):
            cmd.add_argument("--alias", default="champion")
            cmd.add_argument("--reason", default="")
        if name == "download":
            cmd.add_argument("--output", required=True, help="local directory")
        if name == "load-test":
            cmd.add_argument("--samples", type=int, default=200)
        cmd.add_argument("--store", help="registry URI (default: the config's registry.uri)")
        _add_config_args(cmd, required=False)
        cmd.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trainpipe`` console script."""
    args = build_parser().parse_args(argv)
    skip_final_collection()
    try:
        handler = {
            "run": cmd_run,
            "compile": cmd_compile,
            "submit": cmd_submit,
            "doctor": cmd_doctor,
            "ingest": cmd_ingest,
            "train": cmd_train,
            "job": cmd_job,
            "tune": cmd_tune,
            "registry": cmd_registry,
            "predict": cmd_predict,
        }[args.command]
        code = handler(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise  # another pipe or socket broke: that is an error, not the end of the output
        # The reader closed early (`trainpipe registry show ... | head`): stop quietly. Point
        # stdout at devnull so that the interpreter's own flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + 13  # killed by SIGPIPE, as a shell reports it
    except TrainpipeError as exc:
        print(f"trainpipe: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("trainpipe: interrupted", file=sys.stderr)
        return 130


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end is closed (poll reports an error on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no file descriptor
        return False
    return any(event & select.POLLERR for _, event in events)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the pipeline locally and write summary.json."""
    from trainpipe.config import load_config

    config = load_config(args.config, args.overrides)
    from trainpipe_pipelines.local_run import print_summary, run_pipeline_locally

    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.run_dir or Path("runs") / f"{config.name}-{stamp}")
    print(f"trainpipe: running {config.name} in {run_dir}")
    summary = run_pipeline_locally(config, run_dir=run_dir, verbose=args.verbose)
    summary_path = summary.write(Path(args.summary_out or run_dir / "summary.json"))
    print_summary(summary)
    print(f"  summary: {summary_path}")
    if summary.error is not None:
        print(f"trainpipe: error: {summary.error.stage}: {summary.error.message}", file=sys.stderr)
        return 1
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile the pipeline YAML, and each component's for other pipelines to load; ``--config``
    (default pipelines/configs/digits.yaml) with its ``--set`` overrides becomes the default
    config of every run started from the pipeline."""
    from trainpipe_components.publish import COMPILED_DIR, compile_components
    from trainpipe_pipelines.training_pipeline import COMPILED, compile_pipeline

    path = compile_pipeline(
        args.output or COMPILED, image=args.image, config=args.config, overrides=args.overrides
    )
    shown = f" with the default config {args.config or 'pipelines/configs/digits.yaml'}"
    print(f"compiled {path}{shown if args.config or args.overrides else ''}")
    components = compile_components(args.components_dir or COMPILED_DIR, image=args.image)
    print(f"compiled {len(components)} components into {components[0].parent}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Compile, upload the pipeline version for its content hash, start a run, print its URL."""
    from trainpipe_pipelines.submit import cli_submit

    return cli_submit(args)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print the doctor's findings about a run; exit 0 whenever the run could be read."""
    from trainpipe.doctor import examine

    report = examine(args.run_path)
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report.format())
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Write the cleaned Parquet, its schema, statistics (JSON and HTML) and anomalies."""
    from trainpipe.config import load_config
    from trainpipe.data.ingest import ingest

    config = load_config(args.config, args.overrides)
    result = ingest(config, args.output)
    stats = result.stats
    print(
        f"ingested {stats['rows']} of {stats['rows_in']} rows, {stats['columns']} columns "
        f"({stats['duplicates_dropped']} duplicates dropped) into {args.output}"
    )
    for anomaly in stats.get("anomalies", []):
        print(f"  {anomaly['severity']}: {anomaly['message']}")
    print(f"  statistics: {args.output}/statistics.html")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Ingest and split the configured data, then run the training job to ``--output``; a
    failure leaves its summary there for ``trainpipe doctor``."""
    from trainpipe.config import load_config
    from trainpipe.runs.standalone import train_standalone

    overrides = list(args.overrides)
    if args.backend:
        overrides.append(f"train.backend={args.backend}")
    if args.nodes:
        overrides.append(f"train.nnodes={args.nodes}")
    if args.nproc_per_node:
        overrides.append(f"train.nproc_per_node={args.nproc_per_node}")
    from trainpipe.usercode.activation import pack_config_code

    config = pack_config_code(load_config(args.config, overrides))
    backend = _membership_replay(config, args.replay_membership) if args.replay_membership else None
    result = train_standalone(config, args.output, log=_print_line, backend=backend)
    shown = ", ".join(f"{k}={v:.4f}" for k, v in result.final.items() if k != "epoch")
    print(f"trained on {result.world_size} process(es) in {result.seconds:.1f}s: {shown}")
    print(f"model: {result.output}")
    return 0


def _print_line(line: str) -> None:
    print(line, flush=True)


def _membership_replay(config: RunConfig, model: str) -> JobBackend:
    """The backend that replays the membership history the elastic run at ``model`` recorded.

    Raises:
        ConfigError: the backend is not local, or ``model`` holds no membership history.
    """
    from trainpipe.launch.elastic import MembershipReplay
    from trainpipe.launch.local import LocalJobBackend
    from trainpipe.storage.factory import open_store
    from trainpipe.train.membership import membership_history
    from trainpipe.train.model_files import METRICS_KEY

    if config.train.backend != "local":
        raise ConfigError(
            f"--replay-membership runs local jobs; train.backend is {config.train.backend!r}: "
            "pass --backend local"
        )
    store = open_store(model)
    if not store.exists(METRICS_KEY):
        raise ConfigError(
            f"--replay-membership {model}: no {METRICS_KEY} there; name the model directory or "
            "URI the elastic run wrote"
        )
    history = membership_history(store.read_json(METRICS_KEY).get("events", []))
    if not history:
        raise ConfigError(
            f"--replay-membership {model}: its {METRICS_KEY} records no membership events; was "
            "it trained by this version of trainpipe?"
        )
    shown = ", ".join(f"{m.nodes} node(s) from step {m.global_step}" for m in history)
    print(f"replaying the membership of {model}: {shown}", flush=True)
    return MembershipReplay(history, LocalJobBackend())


def cmd_tune(args: argparse.Namespace) -> int:
    """``tune``: a local study with parallel workers; ``tune render-katib``: the Experiment;
    ``tune render-optimizationjob``: the Trainer OptimizationJob."""
    from trainpipe.config import load_config

    if not args.config:
        raise ConfigError("trainpipe tune needs --config FILE")
    from trainpipe.usercode.activation import pack_config_code

    config = pack_config_code(load_config(args.config, args.overrides))
    if args.tune_command in ("render-katib", "render-optimizationjob"):
        from trainpipe.launch.render import to_yaml
        from trainpipe.storage.uri import join_uri
        from trainpipe.tune.katib import render_experiment
        from trainpipe.tune.optimizationjob import render_optimization_job

        render = (
            render_experiment if args.tune_command == "render-katib" else render_optimization_job
        )
        data = args.data or f"minio://trainpipe/runs/{config.name}/data"
        rendered = render(
            config,
            name=args.name or config.name,
            train_data=join_uri(data, "train"),
            validation_data=join_uri(data, "validation"),
            output_root=args.output or f"minio://trainpipe/runs/{config.name}/trials",
        )
        print(to_yaml(rendered), end="")
        return 0
    if not args.output:
        raise ConfigError("trainpipe tune needs --output FILE for the result JSON")
    from trainpipe.tune.run import TuneRun, run_study

    output = Path(args.output).resolve()
    study = args.study or config.tune.study_name or config.name
    storage = args.storage or config.tune.storage or f"journal://{output.with_suffix('.journal')}"
    summary = run_study(
        config, TuneRun(output=output, storage=storage, study_name=study), workers=args.workers
    )
    print(
        f"study {study}: {summary['n_complete']} complete, {summary['n_pruned']} pruned, "
        f"{summary['n_failed']} failed, {summary['total_epochs']} training epochs"
    )
    print(
        f"  best {summary['objectives'][0]['metric']}={summary['best_value']:.4g} with "
        f"{json.dumps(summary['best_params'])}"
    )
    print(f"  result: {output}\n  report: {summary['report']}")
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    """``job render``: the cluster object the train step would create, as YAML."""
    from trainpipe.config import load_config
    from trainpipe.launch.render import render_pytorchjob, render_trainjob, to_yaml
    from trainpipe.launch.spec import job_name
    from trainpipe.launch.train_job import cluster_job_spec
    from trainpipe.storage.uri import join_uri
    from trainpipe.train.spec import TrainSpec

    config = load_config(args.config, [*args.overrides, f"train.backend={args.backend}"])
    data = args.data or f"minio://trainpipe/runs/{config.name}/data"
    spec = TrainSpec(
        config=config,
        train_data=join_uri(data, "train"),
        validation_data=join_uri(data, "validation"),
        output=args.output or f"minio://trainpipe/runs/{config.name}/model",
        run_id=args.run_id,
    )
    job = cluster_job_spec(spec, name=job_name(args.run_id or config.name, "train"))
    render = render_pytorchjob if args.backend == "pytorchjob" else render_trainjob
    print(to_yaml(render(job)), end="")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Score every row of ``--input`` and write it with the predictions to ``--output``."""
    from trainpipe.predict import predict_file

    config = _registry_config(args)
    registry = _registry_uri(args, config)
    data = config.data if config is not None else None
    result = predict_file(args.model, args.input, args.output, registry=registry, data=data)
    print(f"scored {result.rows} rows of {args.input} with {result.model} into {result.output}")
    report = result.report
    if report.filled:
        print(f"  {report.filled_message()}")
    if report.unseen:
        print(f"trainpipe: warning: {report.unseen_message()}", file=sys.stderr)
    return 0


def _registry_config(args: argparse.Namespace) -> RunConfig | None:
    """The ``--config`` of a registry command with its ``--set`` overrides, if one was given."""
    if not args.config:
        if args.overrides:
            raise ConfigError(f"--set {args.overrides[0]} needs --config FILE to apply to")
        return None
    from trainpipe.config import load_config

    return load_config(args.config, args.overrides)


def _registry_uri(args: argparse.Namespace, config: RunConfig | None) -> str:
    if args.store:
        return str(args.store)
    return config.registry.uri if config is not None else "runs/registry"


def cmd_registry(args: argparse.Namespace) -> int:
    """The ``registry`` subcommands; models are referred to as NAME:VERSION or NAME@ALIAS."""
    from trainpipe.registry.registry import ModelRegistry

    config = _registry_config(args)
    registry = ModelRegistry.open(_registry_uri(args, config))
    command = args.registry_command
    result: Any
    if command == "list":
        result = {
            name: [v.to_dict() for v in registry.list_versions(name)]
            for name in registry.list_models()
        }
        lines = [f"no models in {registry.store.uri}"] if not result else []
        for name, versions in result.items():
            aliases = ", ".join(
                f"{alias}={version}" for alias, version in sorted(registry.aliases(name).items())
            )
            latest = versions[-1]
            lines.append(
                f"{name}: {len(versions)} version(s), latest {latest['version']} "
                f"{_headline(latest['metrics'])}" + (f" [{aliases}]" if aliases else "")
            )
    elif command == "register":
        from trainpipe.registry.register import register_model

        registered = register_model(
            registry, args.model_dir, config=config, name=args.name, source=args.model_dir
        )
        item = registry.get(registered.name, registered.version)
        lineage = registry.lineage(item.name, item.version)
        result = {**item.to_dict(), **registered.to_dict(), "lineage": lineage}
        hint = " (pass --config FILE and its --set overrides)" if config is None else ""
        lines = [
            f"registered {registered.ref} at {registered.uri}",
            *_lineage_lines(lineage, config_hint=hint),
        ]
        if registered.alias is None:
            lines.append(f"  {registered.reason}")
        else:
            lines.append(f"  {registered.name}@{registered.alias}: {registered.reason}")
        if registered.same_model_as:
            earlier = ", ".join(f"{registered.name}:{v}" for v in registered.same_model_as)
            print(
                f"trainpipe: warning: {registered.ref} holds the same model files, byte for "
                f"byte, as {earlier}: the same model registered again",
                file=sys.stderr,
            )
    elif command == "show":
        item = registry.resolve(args.model)
        lineage = registry.lineage(item.name, item.version)
        history = _alias_history(registry.alias_events(item.name), item.version)
        result = {**item.to_dict(), "lineage": lineage, "alias_history": history}
        lines = [
            f"{item.ref}  {item.uri}" + (f"  [{', '.join(item.aliases)}]" if item.aliases else ""),
            f"  created: {_time(item.created)}",
            f"  metrics: {_headline(item.metrics)}",
            *_lineage_lines(lineage),
            f"  code: {lineage.get('code_version', '')}  run: {lineage.get('pipeline_run_id', '')}",
            f"  files: {', '.join(sorted(item.files))}",
        ]
        lines += ["  alias history:"] if history else []
        lines += [_alias_event_line(event) for event in history]
    elif command == "promote":
        item = registry.resolve(args.model)
        result = registry.promote(item.name, item.version, alias=args.alias, reason=args.reason)
        lines = [f"{item.name}@{args.alias} -> {item.version} (was {result['previous']})"]
    elif command == "rollback":
        result = registry.rollback(args.model, alias=args.alias, reason=args.reason)
        lines = [f"{args.model}@{args.alias} -> {result['version']} (was {result['previous']})"]
    elif command == "download":
        item = registry.download(args.model, args.output)
        result, lines = item.to_dict(), [f"verified {item.ref} and copied it to {args.output}"]
    elif command == "verify":
        item = registry.resolve(args.model)
        problems = registry.verify(args.model)
        result = {"model": item.ref, "ok": not problems, "problems": problems}
        lines = [f"{item.ref}: {'ok' if not problems else 'FAILED'}"] + [f"  {p}" for p in problems]
        _emit(args, result, lines)
        return 0 if not problems else 1
    else:
        result = _load_test(registry, args.model, args.samples)
        lines = [
            f"{result['model']}: loaded and verified; {result['samples']} single-sample "
            f"predictions p50 {result['latency_p50_ms']:.3f} ms, "
            f"p95 {result['latency_p95_ms']:.3f} ms"
        ]
    _emit(args, result, lines)
    return 0


def _emit(args: argparse.Namespace, result: Any, lines: list[str]) -> None:
    print(json.dumps(result, indent=2, default=str) if args.json else "\n".join(lines))


def _lineage_lines(lineage: dict[str, Any], *, config_hint: str = "") -> list[str]:
    """What a version was made from: config, data hash, parent."""
    config = lineage.get("config") or {}
    shown = (
        f"{config.get('name')} (seed {config.get('seed')})"
        if config
        else f"not recorded{config_hint}"
    )
    return [
        f"  config: {shown}",
        f"  data hash: {lineage.get('data_hash') or 'not recorded'}",
        f"  parent: {lineage.get('parent') or 'none'}",
    ]


def _alias_history(events: list[dict[str, Any]], version: int) -> list[dict[str, Any]]:
    """The alias events that pointed an alias at ``version`` or moved one away from it."""
    return [e for e in events if version in (e.get("version"), e.get("previous"))]


def _alias_event_line(event: dict[str, Any]) -> str:
    """``    2024-05-01 12:00:00 champion: 1 -> 2 (promote: reason)``."""
    why = f"{event.get('action', 'set')}: {event['reason']}" if event.get("reason") else ""
    return (
        f"    {_time(float(event['time']))} {event['alias']}: {event.get('previous')} -> "
        f"{event.get('version')} ({why or event.get('action', 'set')})"
    )


def _time(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _load_test(registry: Any, ref: str, samples: int) -> dict[str, Any]:
    """Load a version (verified, weights only) and time predictions on synthetic rows."""
    import torch

    from trainpipe.evaluate.latency import measure_latency

    item = registry.resolve(ref)
    model = registry.load(ref)
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(samples, model.preprocess.width, generator=generator)
    with torch.no_grad():
        outputs = model.predict_tensor(rows)
    if not torch.isfinite(outputs).all():
        raise RegistryError(f"{item.ref} produced non-finite outputs on standard-normal inputs")
    latency = measure_latency(model.predict_tensor, [rows[i : i + 1] for i in range(samples)])
    return {"model": item.ref, "samples": samples, **latency}


def _headline(metrics: dict[str, Any]) -> str:
    keys = ("accuracy", "f1_macro", "rmse", "r2")
    return " ".join(f"{k}={metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), float))


if __name__ == "__main__":
    sys.exit(main())
