"""The import structure: no cycles, package __init__ files that import nothing, and pipeline
stages that import only what they need (so a stage that does not train never pays for torch)."""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
PACKAGE = SRC / "trainpipe"
COMPONENTS = REPO / "components"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, base: str) -> set[str]:
    """Every module an import statement anywhere in ``tree`` names (functions included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parent = base.split(".")[: len(base.split(".")) - node.level + 1]
                module = ".".join([*parent, module] if module else parent)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """trainpipe's modules and the trainpipe modules each one imports, counting imports inside
    functions and the package ``__init__`` files that importing ``a.b.c`` runs (``a``, ``a.b``)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for target in _imported(ast.parse(path.read_text()), base):
            while target and target not in paths:
                target = target.rpartition(".")[0]
            while target:  # the module and every package above it
                if target != name and not name.startswith(target + "."):
                    edges.add(target)
                target = target.rpartition(".")[0]
        graph[name] = edges
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_cycle_check_can_fail() -> None:
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter({"a": {"b"}, "b": {"c"}, "c": {"a"}}).static_order())


def test_package_init_files_import_only_their_own_modules() -> None:
    # Importing one module runs every package __init__ above it: a package __init__ that pulled
    # in another package would make every module of it pay (and loop) for that package. config
    # and reporting re-export their own light sections; models/__init__ holds build_model.
    for init in PACKAGE.rglob("__init__.py"):
        package = _module_name(init)
        if package == "trainpipe.models":
            continue
        for node in ast.parse(init.read_text()).body:
            if isinstance(node, ast.Import):
                pytest.fail(f"{init.relative_to(REPO)}: {ast.unparse(node)}")
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                assert node.level == 0 and str(node.module).startswith(package + "."), (
                    f"{init.relative_to(REPO)}: {ast.unparse(node)}"
                )


def _component_imports() -> dict[str, list[str]]:
    """The trainpipe modules each KFP component's body imports, by component function."""
    found: dict[str, list[str]] = {}
    for path in COMPONENTS.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.endswith("_op"):
                found[node.name] = sorted(
                    m for m in _imported(node, "") if m.startswith("trainpipe.") and _is_module(m)
                )
    return found


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


# What each stage must not load: none but the training, tuning-trial and model stages need torch;
# none but split (stratification) and the model stages need scikit-learn.
NOT_NEEDED = {
    "ingest_op": ("torch", "sklearn", "optuna", "onnx"),
    "split_op": ("torch", "optuna", "onnx"),
    "tune_setup_op": ("torch", "sklearn", "pandas", "onnx"),
    "tune_select_op": ("torch", "sklearn", "pandas", "onnx"),
}


def _top_level_packages(modules: list[str]) -> set[str]:
    """The top-level packages a fresh interpreter holds after importing ``modules``."""
    script = (
        "import importlib, json, sys\n"
        f"for module in {json.dumps(modules)}: importlib.import_module(module)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


def test_stages_that_do_not_train_never_import_torch() -> None:
    imports = _component_imports()
    assert set(NOT_NEEDED) <= set(imports)
    # One fresh interpreter per stage, as each stage runs in a process of its own.
    for component, unwanted in NOT_NEEDED.items():
        modules = imports[component]
        loaded = _top_level_packages(modules)
        assert not loaded & set(unwanted), f"{component} ({modules}) loads {loaded & set(unwanted)}"


def test_the_registry_and_the_tuning_worker_load_only_what_they_use() -> None:
    # Listing, registering and resolving versions copy files and read JSON: no torch (loading a
    # model for inference imports it then). A tuning trial imports scikit-learn only when it
    # cross-validates.
    registry = ["trainpipe.registry.registry", "trainpipe.registry.register"]
    assert "torch" not in _top_level_packages(registry)
    assert "sklearn" not in _top_level_packages(["trainpipe.tune.worker"])
