"""The feedback service's settings, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ironpath_common.settings import ServiceSettings, service_address


@dataclass(frozen=True)
class FeedbackSettings(ServiceSettings):
    program_address: str = ""
    progress_address: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FeedbackSettings:
        env = os.environ if env is None else env
        return cls(
            **ServiceSettings.base_from_env("feedback", env),  # type: ignore[arg-type]
            program_address=service_address("program", env),
            progress_address=service_address("progress", env),
        )
