"""`python -m gateway render --out FILE` writes and validates the Envoy config;
`python -m gateway run` runs Envoy in the foreground until SIGINT or SIGTERM.

Both read the same environment as the services (see docs/contracts-for-helpers.md).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from gateway.config import GatewaySettings, write_config
from gateway.envoy import EnvoyError, EnvoyProcess, validate
from ironpath_common.settings import ConfigError


def _render(out: Path, check: bool) -> int:
    settings = GatewaySettings.from_env()
    written = write_config(settings, out)
    if check:
        validate(written)
    print(out)  # the CLI's output is the path
    return 0


def _run(base_id: int | None, log_level: str) -> int:
    settings = GatewaySettings.from_env()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with EnvoyProcess(settings, base_id=base_id, log_level=log_level) as envoy:
        print(
            f"envoy listening on {settings.listen_host}:{settings.port}, admin {envoy.admin_url}",
            file=sys.stderr,
            flush=True,
        )
        # Envoy exits with us (PDEATHSIG); we also exit when it does.
        while not stop.wait(0.5):
            code = envoy.poll()
            if code is not None:
                print(f"envoy exited with code {code}", file=sys.stderr)
                return code or 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description="IronPath's Envoy gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    render_cmd = commands.add_parser("render", help="write the Envoy config and validate it")
    render_cmd.add_argument("--out", type=Path, required=True, help="where to write the config (JSON)")
    # A Kubernetes init container renders with the app image, which has no Envoy binary; the Envoy
    # container that reads the file then refuses a bad config by not starting.
    render_cmd.add_argument("--no-validate", dest="validate", action="store_false", help="skip `envoy --mode validate`")
    run_cmd = commands.add_parser("run", help="run Envoy in the foreground")
    run_cmd.add_argument("--base-id", type=int, default=None, help="hot-restart base id (default: hot restart off)")
    run_cmd.add_argument("--log-level", default="warning", help="Envoy's own log level")
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            return _render(args.out, args.validate)
        return _run(args.base_id, args.log_level)
    except (ConfigError, EnvoyError) as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
