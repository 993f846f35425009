"""The progress service's settings, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ironpath_common.settings import ServiceSettings, service_address


@dataclass(frozen=True)
class ProgressSettings(ServiceSettings):
    # WatchProgress sends a keep-alive after this much silence (below every proxy idle timeout).
    keepalive_seconds: float = 15.0
    # The program service: program access (coach grants) and the lifter's display unit.
    program_address: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProgressSettings:
        env = os.environ if env is None else env
        return cls(
            **ServiceSettings.base_from_env("progress", env),  # type: ignore[arg-type]
            keepalive_seconds=float(env.get("IRONPATH_WATCH_KEEPALIVE_SECONDS", "15")),
            program_address=service_address("program", env),
        )
