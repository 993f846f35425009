"""The progress service's settings, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ironpath_common.settings import ServiceSettings


@dataclass(frozen=True)
class ProgressSettings(ServiceSettings):
    # WatchProgress sends a keep-alive after this much silence (below every proxy idle timeout).
    keepalive_seconds: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProgressSettings:
        env = os.environ if env is None else env
        return cls(
            **ServiceSettings.base_from_env("progress", env),  # type: ignore[arg-type]
            keepalive_seconds=float(env.get("IRONPATH_WATCH_KEEPALIVE_SECONDS", "15")),
        )
