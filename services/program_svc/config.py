"""The program service's settings, read once from the environment at start."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ironpath_common.settings import ConfigError, ServiceSettings, service_address
from program_svc.gemini import GeminiEngine, gemini_engine_from_env


@dataclass(frozen=True)
class ProgramSettings(ServiceSettings):
    progress_address: str = ""
    feedback_address: str = ""
    # With GEMINI_API_KEY set, Gemini writes programs (the built-in generator is the fallback).
    gemini: GeminiEngine | None = None

    @property
    def invite_code_key(self) -> bytes:
        """Key of the coach invite codes (domain.invite_code): derived from the service secret every
        replica shares, under its own label, so it needs no setting of its own. Rotating that secret
        changes the code a replayed GrantProgramAccess returns; codes already handed out still work."""
        return hmac.new(
            self.auth.service_token_secret.encode(), b"ironpath.program.invite-code.v1", hashlib.sha256
        ).digest()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProgramSettings:
        env = os.environ if env is None else env
        try:
            gemini = gemini_engine_from_env(env)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return cls(
            **ServiceSettings.base_from_env("program", env),  # type: ignore[arg-type]
            progress_address=service_address("progress", env),
            feedback_address=service_address("feedback", env),
            gemini=gemini,
        )
