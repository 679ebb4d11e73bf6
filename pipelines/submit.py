"""``trainpipe submit``: compile the pipeline, upload it as a version keyed by its content hash,
and start a run on a Kubeflow Pipelines cluster.

The pipeline (``trainpipe-<config.name>``) gets one version per distinct compiled YAML, named by
the first 16 hex digits of the YAML's sha256: re-submitting the same commit reuses that version
and only starts a new run. The run config is a run parameter (``config_json``), not part of the
pipeline, so changing a config value changes the run, not the version.

KFP v2 runs carry no labels, so the git commit goes into the run's display name
(``<name>-<shortsha>-<UTC time>``) and description (``git_sha=... git_dirty=...``).

The kfp client is built only by :func:`build_client` (the outermost call); :func:`submit` takes it
as an argument, so tests hand it a client pointed at a fake KFP API.
"""

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError, LaunchError

HOST_ENV = "KFP_HOST"
TOKEN_ENV = "KFP_TOKEN"
DEFAULT_EXPERIMENT = "trainpipe"
# The pipeline's pods create PyTorchJobs/TrainJobs; manifests/base grants that to this account.
DEFAULT_SERVICE_ACCOUNT = "trainpipe-launcher"
HASH_LENGTH = 16
# Where Kubeflow's PodDefault (and kfp's ServiceAccountTokenVolumeCredentials) puts the token.
SA_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"
PIPELINE_DESCRIPTION = (
    "trainpipe training pipeline: ingest, split, tune, train (DDP), validate, evaluate, register. "
    "Versions are named by the sha256 of the compiled YAML."
)

T = TypeVar("T")


class SubmitError(LaunchError):
    """The Kubeflow Pipelines API refused or could not be reached while submitting a run."""


@dataclass(frozen=True)
class GitInfo:
    """The commit the submitted code comes from (``sha`` is empty when unknown)."""

    sha: str
    dirty: bool

    @property
    def short(self) -> str:
        """The first 8 hex digits of the commit, or ``nogit``."""
        return self.sha[:8] if self.sha else "nogit"

    def describe(self) -> str:
        """``git_sha=... git_dirty=...`` as written into run and version descriptions."""
        return f"git_sha={self.sha or 'unknown'} git_dirty={str(self.dirty).lower()}"


@dataclass(frozen=True)
class SubmitResult:
    """What :func:`submit` did on the cluster."""

    pipeline_name: str
    pipeline_id: str
    version_name: str
    version_id: str
    uploaded_version: bool
    experiment_id: str
    run_id: str
    run_name: str
    run_url: str
    parameters: dict[str, Any]


def git_info(cwd: str | Path | None = None, env: Mapping[str, str] | None = None) -> GitInfo:
    """The commit of the checkout at ``cwd`` (and whether tracked files changed), else
    ``GITHUB_SHA`` from ``env``, else unknown."""
    env = os.environ if env is None else env

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    sha = git("rev-parse", "HEAD")
    if sha:
        status = git("status", "--porcelain", "--untracked-files=no")
        return GitInfo(sha=sha, dirty=bool(status))
    return GitInfo(sha=env.get("GITHUB_SHA", ""), dirty=False)


def content_hash(path: str | Path) -> str:
    """The version name of a compiled pipeline: the first 16 hex digits of its sha256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:HASH_LENGTH]


def run_parameters(config: RunConfig) -> dict[str, Any]:
    """The pipeline's run parameters for ``config``."""
    return {"config_json": config.to_json()}


def normalize_host(host: str) -> str:
    """``host`` without a trailing slash; it must be an ``http(s)://`` URL."""
    host = host.strip().rstrip("/")
    if not host.startswith(("http://", "https://")) or len(host.split("://", 1)[1]) == 0:
        raise ConfigError(
            f"KFP host {host!r} is not an http(s) URL: pass --host (or {HOST_ENV}) like "
            "http://localhost:8080 (after `kubectl port-forward -n kubeflow svc/ml-pipeline-ui "
            "8080:80`) or https://kubeflow.example.com/pipeline"
        )
    return host


def check_endpoint(host: str, token: str | None = None, timeout: float = 10.0) -> None:
    """Fail fast with one clear line when ``host`` is unreachable, refuses the token, or is not
    a KFP API (the kfp client itself retries for half a minute before it says anything)."""
    request = urllib.request.Request(f"{host}/apis/v2beta1/healthz")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise _http_error(host, "health check", exc.code, exc.reason) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SubmitError(
            f"cannot reach Kubeflow Pipelines at {host} ({reason}): check --host/{HOST_ENV}; "
            "for a cluster without an ingress run `kubectl port-forward -n kubeflow "
            "svc/ml-pipeline-ui 8080:80` and use --host http://localhost:8080"
        ) from None
    try:
        json.loads(body or b"{}")
    except ValueError:
        raise SubmitError(
            f"{host}/apis/v2beta1/healthz did not answer JSON: --host must point at the "
            "Kubeflow Pipelines API or UI (a login page means the token is missing: set "
            f"{TOKEN_ENV})"
        ) from None


def projected_token(env: Mapping[str, str] | None = None) -> str | None:
    """The pod's projected KFP service-account token (audience ``pipelines.kubeflow.org``) at
    ``KF_PIPELINES_SA_TOKEN_PATH`` or kfp's default path, when the file exists."""
    env = os.environ if env is None else env
    path = Path(env.get("KF_PIPELINES_SA_TOKEN_PATH") or SA_TOKEN_PATH)
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def build_client(host: str, token: str | None = None, namespace: str | None = None) -> Any:
    """The kfp client for ``host``, after a health check that turns connection and auth
    failures into one line.

    The bearer token is ``token`` when given, else the pod's projected service-account token
    (see :func:`projected_token`), else none (a port-forward or an open endpoint).
    """
    host = normalize_host(host)
    token = token or projected_token()
    check_endpoint(host, token)
    import kfp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP >= 2.0.0-beta.2"
        kwargs: dict[str, Any] = {"host": host, "existing_token": token or None}
        if namespace:
            kwargs["namespace"] = namespace
        return kfp.Client(**kwargs)


def _http_error(host: str, what: str, status: int, reason: object, body: str = "") -> SubmitError:
    if status in (401, 403):
        return SubmitError(
            f"Kubeflow Pipelines at {host} refused the {what} (HTTP {status} {reason}): set "
            f"{TOKEN_ENV} (or --token) to a bearer token that may use this endpoint "
            "(in multi-user Kubeflow also pass --namespace with your profile namespace)"
        )
    if status == 404:
        return SubmitError(
            f"{host} answered 404 to the {what}: --host must point at the Kubeflow Pipelines "
            "API or UI (the URL that serves /apis/v2beta1/...)"
        )
    detail = f": {body.strip()[:300]}" if body.strip() else ""
    return SubmitError(
        f"Kubeflow Pipelines at {host}: {what} failed (HTTP {status} {reason}){detail}"
    )


def _call(host: str, what: str, fn: Callable[[], T]) -> T:
    """Run one kfp API call, turning its failures into a :class:`SubmitError` naming ``host``."""
    import kfp_server_api
    import urllib3

    try:
        return fn()
    except kfp_server_api.ApiException as exc:
        if not exc.status:  # kfp_server_api's way of reporting transport errors
            raise SubmitError(
                f"cannot reach Kubeflow Pipelines at {host} during the {what}: {exc.reason}"
            ) from None
        raise _http_error(host, what, exc.status, exc.reason, str(exc.body or "")) from None
    except urllib3.exceptions.HTTPError as exc:
        raise SubmitError(
            f"cannot reach Kubeflow Pipelines at {host} during the {what}: {exc}"
        ) from None


def _equals_filter(key: str, value: str) -> str:
    # Operation 1 is EQUALS, spelled as the kfp client spells it (get_pipeline_id).
    return json.dumps({"predicates": [{"operation": 1, "key": key, "stringValue": value}]})


def _find_version(client: Any, host: str, pipeline_id: str, name: str) -> Any | None:
    found = _call(
        host,
        "pipeline version lookup",
        lambda: client.list_pipeline_versions(
            pipeline_id=pipeline_id, page_size=5, filter=_equals_filter("display_name", name)
        ),
    )
    matches = [v for v in found.pipeline_versions or [] if name in (v.display_name, v.name)]
    return matches[0] if matches else None


def submit(
    client: Any,
    config: RunConfig,
    *,
    host: str,
    experiment: str = DEFAULT_EXPERIMENT,
    image: str | None = None,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    namespace: str | None = None,
    git: GitInfo | None = None,
    run_name: str | None = None,
    pipeline_root: str | None = None,
    now: datetime.datetime | None = None,
) -> SubmitResult:
    """Compile the pipeline for ``image``, make sure the pipeline version for its content hash
    exists, and start a run of it with ``config`` in ``experiment``.

    ``client`` is a ``kfp.Client`` (see :func:`build_client`); ``host`` is the dashboard URL the
    run URL is built from. An empty ``service_account`` leaves the choice to KFP; so does no
    ``pipeline_root`` (where KFP keeps the run's artifacts, e.g. ``minio://trainpipe/pipelines``).
    """
    import kfp_server_api
    from trainpipe_pipelines.training_pipeline import compile_pipeline

    host = normalize_host(host)
    git = git if git is not None else git_info()
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    pipeline_name = f"trainpipe-{config.name}"
    with tempfile.TemporaryDirectory(prefix="trainpipe-submit-") as tmp:
        package = compile_pipeline(Path(tmp) / "pipeline.yaml", image=image)
        version_name = content_hash(package)

        listed = _call(
            host,
            "pipeline lookup",
            lambda: client.list_pipelines(
                page_size=5,
                filter=_equals_filter("display_name", pipeline_name),
                namespace=namespace,
            ),
        )
        pipelines = [p for p in listed.pipelines or [] if p.display_name == pipeline_name]
        if pipelines:
            pipeline_id = pipelines[0].pipeline_id
        else:
            created = _call(
                host,
                "pipeline creation",
                lambda: client.pipelines.pipeline_service_create_pipeline(
                    pipeline=kfp_server_api.V2beta1Pipeline(
                        display_name=pipeline_name,
                        description=PIPELINE_DESCRIPTION,
                        namespace=namespace,
                    )
                ),
            )
            pipeline_id = created.pipeline_id

        version = _find_version(client, host, pipeline_id, version_name)
        uploaded = False
        if version is None:
            try:
                version = _call(
                    host,
                    "pipeline version upload",
                    lambda: client.upload_pipeline_version(
                        str(package),
                        pipeline_version_name=version_name,
                        pipeline_id=pipeline_id,
                        description=f"{git.describe()} image={image or 'default'}",
                    ),
                )
                uploaded = True
            except SubmitError as exc:
                # Another submit of the same content won the race: its version is ours too.
                version = _find_version(client, host, pipeline_id, version_name)
                if version is None:
                    raise exc from None

    experiment_obj = _call(
        host,
        "experiment lookup",
        lambda: client.create_experiment(name=experiment, namespace=namespace),
    )
    parameters = run_parameters(config)
    name = run_name or f"{config.name}-{git.short}{'-dirty' if git.dirty else ''}-{stamp}"
    run = _call(
        host,
        "run creation",
        lambda: client.runs.run_service_create_run(
            run=kfp_server_api.V2beta1Run(
                experiment_id=experiment_obj.experiment_id,
                display_name=name,
                description=f"{git.describe()} pipeline_version={version_name}",
                pipeline_version_reference=kfp_server_api.V2beta1PipelineVersionReference(
                    pipeline_id=pipeline_id, pipeline_version_id=version.pipeline_version_id
                ),
                runtime_config=kfp_server_api.V2beta1RuntimeConfig(
                    parameters=parameters, pipeline_root=pipeline_root or None
                ),
                service_account=service_account or None,
            )
        ),
    )
    return SubmitResult(
        pipeline_name=pipeline_name,
        pipeline_id=pipeline_id,
        version_name=version_name,
        version_id=version.pipeline_version_id,
        uploaded_version=uploaded,
        experiment_id=experiment_obj.experiment_id,
        run_id=run.run_id,
        run_name=name,
        run_url=f"{host}/#/runs/details/{run.run_id}",
        parameters=parameters,
    )


def config_overrides(image: str | None, overrides: Sequence[str]) -> list[str]:
    """``--set`` overrides with ``job.image=image`` first, so an explicit ``--set job.image``
    (a CUDA training image, say) still wins."""
    return ([f"job.image={image}"] if image else []) + list(overrides)


def cli_submit(args: argparse.Namespace) -> int:
    """``trainpipe submit``: the outermost call, which builds the kfp client."""
    from trainpipe_pipelines.training_pipeline import DEFAULT_CONFIG

    from trainpipe.config import load_config

    host = args.host or os.environ.get(HOST_ENV) or os.environ.get("KF_PIPELINES_ENDPOINT", "")
    if not host:
        raise ConfigError(
            f"trainpipe submit needs --host URL (or {HOST_ENV}): the Kubeflow Pipelines URL, "
            "e.g. http://localhost:8080 after `kubectl port-forward -n kubeflow "
            "svc/ml-pipeline-ui 8080:80`"
        )
    image = args.image or os.environ.get("TRAINPIPE_IMAGE") or None
    from trainpipe.usercode.activation import pack_config_code

    config = load_config(args.config or DEFAULT_CONFIG, config_overrides(image, args.overrides))
    config = pack_config_code(config)  # once, into the registry's store the pods can read
    if "://" not in config.registry.uri:
        print(
            f"trainpipe: warning: registry.uri {config.registry.uri!r} is a local path: on a "
            "cluster it lives inside the step's pod and is lost; use minio://BUCKET/PREFIX"
        )
    token = args.token or os.environ.get(TOKEN_ENV) or None
    client = build_client(host, token, namespace=args.namespace)
    result = submit(
        client,
        config,
        host=host,
        experiment=args.experiment,
        image=image,
        service_account=args.service_account,
        namespace=args.namespace,
        run_name=args.run_name,
        pipeline_root=args.pipeline_root,
    )
    action = "uploaded" if result.uploaded_version else "reused"
    print(f"pipeline {result.pipeline_name}: {action} version {result.version_name}")
    print(f"run {result.run_name} started: {result.run_url}")
    return 0
