"""The published component YAML is what compiling the components gives today, loads with kfp,
describes every input and output, and each component's README lists exactly its interface."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from trainpipe_components.publish import COMPILED_DIR, COMPONENTS, compile_components

pytestmark = pytest.mark.unit


def _spec(path: Path) -> dict:
    spec = yaml.safe_load(path.read_text())
    spec.pop("sdkVersion", None)
    return dict(spec)


def _interface(path: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """``(inputs, outputs)`` of a compiled component: name -> its definition."""
    (component,) = _spec(path)["components"].values()
    found = []
    for key in ("inputDefinitions", "outputDefinitions"):
        definitions = component.get(key, {})
        found.append({**definitions.get("parameters", {}), **definitions.get("artifacts", {})})
    return found[0], found[1]


def test_every_component_is_published_and_up_to_date(tmp_path: Path) -> None:
    fresh = compile_components(tmp_path)
    assert sorted(p.name for p in COMPILED_DIR.glob("*.yaml")) == sorted(p.name for p in fresh)
    for path in fresh:
        assert _spec(path) == _spec(COMPILED_DIR / path.name), (
            f"{path.name}: run `make compile` and commit the result"
        )


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_each_component_loads_with_kfp_and_keeps_its_interface(name: str) -> None:
    from kfp import components

    loaded = components.load_component_from_file(str(COMPILED_DIR / f"{name}.yaml"))
    source = COMPONENTS[name].component_spec
    assert loaded.component_spec.name == source.name
    assert set(loaded.component_spec.inputs or {}) == set(source.inputs or {})
    assert set(loaded.component_spec.outputs or {}) == set(source.outputs or {})


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_every_input_and_output_is_typed_and_described(name: str) -> None:
    inputs, outputs = _interface(COMPILED_DIR / f"{name}.yaml")
    assert inputs and (outputs or name == "tune_setup")
    for kind, definitions in (("input", inputs), ("output", outputs)):
        for key, definition in definitions.items():
            assert "parameterType" in definition or "artifactType" in definition, (name, key)
            description = definition.get("description", "")
            assert len(description) > 10 and "\n" not in description, (name, kind, key)


def test_compiling_for_an_image_changes_only_the_image(tmp_path: Path) -> None:
    from trainpipe_components.image import DEFAULT_IMAGE

    image = "registry.example/team/trainpipe:0123abc-cpu"
    (path, *_) = compile_components(tmp_path, image=image)
    text = path.read_text()
    assert f"image: {image}" in text and DEFAULT_IMAGE not in text
    assert yaml.safe_load(text.replace(image, DEFAULT_IMAGE)) == yaml.safe_load(
        (COMPILED_DIR / path.name).read_text()
    )


_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|")


def _readme_tables(text: str) -> dict[str, dict[str, str]]:
    """``{"Inputs": {name: type}, "Outputs": {...}}`` from a README's two tables."""
    tables: dict[str, dict[str, str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            tables.setdefault(section, {})
        elif match := _ROW.match(line):
            tables[section][match.group(1)] = match.group(2)
    return tables


def _type_of(definition: dict) -> str:
    if "artifactType" in definition:
        return str(definition["artifactType"]["schemaTitle"]).removeprefix("system.")
    return {
        "STRING": "str",
        "NUMBER_INTEGER": "int",
        "BOOLEAN": "bool",
        "LIST": "list",
    }[definition["parameterType"]]


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_each_readme_lists_exactly_the_inputs_and_outputs_of_its_yaml(name: str) -> None:
    readme = COMPILED_DIR / f"{name}.md"
    assert readme.is_file(), f"{readme} is missing"
    tables = _readme_tables(readme.read_text())
    inputs, outputs = _interface(COMPILED_DIR / f"{name}.yaml")
    assert tables.get("Inputs") == {k: _type_of(v) for k, v in inputs.items()}, name
    assert tables.get("Outputs", {}) == {k: _type_of(v) for k, v in outputs.items()}, name
    text = readme.read_text()
    for section in ("## Overview", "## Usage", "## Requirements"):
        assert section in text, (name, section)
    assert f"components/compiled/{name}.yaml" in text  # the usage example loads this file


def test_the_readme_parser_sees_a_lacking_or_extra_row() -> None:
    text = "## Inputs\n\n| `a` | `str` | x |\n\n## Outputs\n\n| `m` | `Model` | y |\n"
    assert _readme_tables(text) == {"Inputs": {"a": "str"}, "Outputs": {"m": "Model"}}
    assert _readme_tables(text.replace("| `a` | `str` | x |", "")) == {
        "Inputs": {},
        "Outputs": {"m": "Model"},
    }
