"""Who writes a program: the built-in generator (always available, the default) or a model
(Gemini) whose answer must pass the same checks or the built-in generator writes it instead."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from program_svc.domain import GenerationMetadata, GenerationRequest, Methodology, Plan, Profile
from program_svc.generator import generate


class ProgramEngine(Protocol):
    async def write(
        self, profile: Profile, request: GenerationRequest, methodology: Methodology
    ) -> tuple[Plan, GenerationMetadata]: ...


def snapshot(value: Any) -> dict[str, Any]:
    """A dataclass as JSON-ready data (dates as ISO strings), for generation metadata."""

    def plain(item: Any) -> Any:
        if isinstance(item, tuple | list):
            return [plain(v) for v in item]
        if isinstance(item, dict):
            return {k: plain(v) for k, v in item.items()}
        if hasattr(item, "isoformat"):
            return item.isoformat()
        return item

    return {k: plain(v) for k, v in dataclasses.asdict(value).items()}


def builtin_metadata(
    profile: Profile, request: GenerationRequest, started: float, fallback_reason: str = "", model: str = ""
) -> GenerationMetadata:
    return GenerationMetadata(
        engine="builtin",
        model=model,
        fallback_reason=fallback_reason,
        generated_at=datetime.now(UTC),
        request=snapshot(request),
        profile_snapshot=snapshot(profile),
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


class BuiltinEngine:
    """The default engine: the methodology's rules as arithmetic, no network, no key."""

    async def write(
        self, profile: Profile, request: GenerationRequest, methodology: Methodology
    ) -> tuple[Plan, GenerationMetadata]:
        started = time.perf_counter()
        request = dataclasses.replace(request, methodology_id=methodology.methodology_id)
        plan = generate(profile, request)
        return plan, builtin_metadata(profile, request, started)
