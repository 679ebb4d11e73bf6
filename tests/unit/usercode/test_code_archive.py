"""The ``code:`` folder: packed once into a deterministic archive, fetched and verified by
digest, put on the path (or installed), recorded on the job; every bad folder named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from k8s_validation import crd_path, validate_custom_resource
from trainpipe.config import RunConfig, load_config
from trainpipe.errors import ConfigError, UserCodeError
from trainpipe.launch.render import render_pytorchjob, render_trainjob
from trainpipe.launch.spec import CODE_DIGEST_ANNOTATION
from trainpipe.launch.train_job import cluster_job_spec
from trainpipe.train.spec import SPEC_ENV, TrainSpec
from trainpipe.usercode import archive as archive_module
from trainpipe.usercode.activation import CACHE_ENV, activate, pack_config_code
from trainpipe.usercode.archive import (
    CodeArchive,
    archive_digest,
    pack_code,
    publish_code,
    read_archive,
)

pytestmark = pytest.mark.unit

USER_CODE = Path(__file__).resolve().parents[2] / "user_code"


@pytest.fixture(autouse=True)
def code_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "path", list(sys.path))  # each test's activations stay its own
    return tmp_path / "cache"


def make_config(tmp_path: Path, **extra: str) -> RunConfig:
    return RunConfig.from_dict(
        {"data": {"source": "builtin:iris"}, "registry": {"uri": str(tmp_path / "reg")}, **extra}
    )


def test_packing_is_deterministic_and_leaves_caches_out(tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    (folder / "mynet" / "__pycache__").mkdir(parents=True)
    (folder / "mynet" / "__init__.py").write_text("")
    (folder / "mynet" / "model.py").write_text("WIDTH = 3\n")
    (folder / "mynet" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"junk")
    first = pack_code(folder)
    (folder / "mynet" / "model.py").touch()  # a new mtime: the same bytes
    assert pack_code(folder) == first
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert tar.getnames() == ["mynet/__init__.py", "mynet/model.py"]
    (folder / "mynet" / "model.py").write_text("WIDTH = 4\n")
    assert archive_digest(pack_code(folder)) != archive_digest(first)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "absent", r"code: folder .*absent does not exist"),
        (lambda root: root, r"code: folder .* is empty; point code: at the folder"),
    ],
)
def test_a_missing_or_empty_folder_is_refused(tmp_path: Path, make: object, message: str) -> None:
    empty = tmp_path / "empty"
    (empty / "__pycache__").mkdir(parents=True)  # only what packing leaves out
    with pytest.raises(UserCodeError, match=message):
        pack_code(make(empty))  # type: ignore[operator]


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "mynet").mkdir()
    (tmp_path / "mynet" / "model.py").write_text("def build(inputs):\n    return (\n")
    with pytest.raises(UserCodeError, match=r"mynet/model\.py line \d+ has a syntax error"):
        pack_code(tmp_path)


def test_a_folder_over_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "MAX_CODE_BYTES", 1024)
    (tmp_path / "model.py").write_text("X = 1\n")
    (tmp_path / "weights.bin").write_bytes(b"0" * 4096)
    with pytest.raises(UserCodeError, match=r"over the 0 MiB limit \(largest: weights\.bin"):
        pack_code(tmp_path)


def test_an_archive_changed_after_packing_is_refused(tmp_path: Path) -> None:
    archive = publish_code(pack_code(USER_CODE), str(tmp_path / "reg"))
    assert archive.uri.endswith(f"/code/sha256-{archive.digest[7:]}.tar.gz")
    assert read_archive(archive) == pack_code(USER_CODE)
    Path(archive.uri).write_bytes(pack_code(USER_CODE) + b"tampered")
    with pytest.raises(UserCodeError, match=r"has digest sha256:\w+, not the recorded sha256"):
        read_archive(archive)
    missing = CodeArchive(uri=str(tmp_path / "reg/code/gone.tar.gz"), digest=archive.digest)
    with pytest.raises(UserCodeError, match=r"gone\.tar\.gz \(sha256:\w+\) is missing"):
        read_archive(missing)


def test_a_plain_folder_goes_on_the_path(tmp_path: Path, code_cache: Path) -> None:
    config = pack_config_code(make_config(tmp_path, code=str(USER_CODE)))
    assert config.code.startswith(str(tmp_path / "reg" / "code"))
    assert config.code_digest == archive_digest(pack_code(USER_CODE))
    assert pack_config_code(config) == config  # packed once
    path = activate(CodeArchive(uri=config.code, digest=config.code_digest))
    assert path.is_relative_to(code_cache) and str(path) == sys.path[0]
    assert (path / "digits_net" / "cnn.py").is_file()


def test_a_folder_with_a_pyproject_is_installed_into_the_cache(
    tmp_path: Path, code_cache: Path
) -> None:
    project = tmp_path / "project"
    (project / "src" / "tinynet").mkdir(parents=True)
    (project / "src" / "tinynet" / "__init__.py").write_text("NAME = 'tiny'\n")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "tinynet"\nversion = "0.1"\n[build-system]\nrequires = '
        '["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    )
    archive = publish_code(pack_code(project), str(tmp_path / "reg"))
    site = activate(archive)
    assert site.name == "site" and (site / "tinynet" / "__init__.py").is_file()
    import importlib

    assert importlib.import_module("tinynet").NAME == "tiny"


def test_a_relative_code_folder_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "run.yaml").write_text("data: {source: 'builtin:iris'}\ncode: ../mycode\n")
    assert load_config(tmp_path / "conf" / "run.yaml").code == str(tmp_path / "mycode")


def test_a_digest_without_an_archive_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="code_digest must be 'sha256:' and 64 hex digits"):
        make_config(tmp_path, code_digest="sha256:abc")


def test_cluster_jobs_carry_the_digest_and_validate(tmp_path: Path) -> None:
    config = pack_config_code(make_config(tmp_path, code=str(USER_CODE)))
    spec = TrainSpec(config=config, train_data="minio://b/train", validation_data="minio://b/v",
                     output="minio://b/model")  # fmt: skip
    job = cluster_job_spec(spec, name="digits-train")
    for rendered, crd in (
        (render_pytorchjob(job), "kubeflow.org_pytorchjobs.yaml"),
        (render_trainjob(job), "trainer.kubeflow.org_trainjobs.yaml"),
    ):
        validate_custom_resource(rendered, crd_path(crd))
        assert rendered["metadata"]["annotations"][CODE_DIGEST_ANNOTATION] == config.code_digest
    carried = TrainSpec.from_json(job.env[SPEC_ENV]).config
    assert (carried.code, carried.code_digest) == (config.code, config.code_digest)
    assert json.loads(job.env[SPEC_ENV])  # the pods' spec names the archive they fetch
