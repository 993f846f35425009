"""The program service's settings, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ironpath_common.settings import ServiceSettings, service_address


@dataclass(frozen=True)
class ProgramSettings(ServiceSettings):
    progress_address: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProgramSettings:
        env = os.environ if env is None else env
        return cls(
            **ServiceSettings.base_from_env("program", env),  # type: ignore[arg-type]
            progress_address=service_address("progress", env),
        )
