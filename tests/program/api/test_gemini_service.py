"""The program service configured with GEMINI_API_KEY, against a local endpoint that answers
like the Gemini API: a valid answer becomes the program; a failing one falls back, recorded."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date

import grpc
import pytest

from ironpath.common.v1 import training_pb2 as t
from ironpath.program.v1 import program_pb2 as pb
from ironpath.program.v1 import program_pb2_grpc as pb_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from program_svc.domain import GenerationRequest, OneRepMax, Profile
from program_svc.generator import generate
from tests.support.fake_gemini import FakeGemini, answer_from
from tests.support.ports import free_port
from tests.support.services import ServiceProcess, ServiceStack

PROFILE = Profile(
    unit="kg",
    bodyweight_kg=80,
    experience_level="intermediate",
    one_rep_maxes=tuple(
        OneRepMax(lift, kg, True)
        for lift, kg in (("squat", 140.0), ("bench_press", 100.0), ("deadlift", 180.0), ("overhead_press", 60.0))
    ),
)


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture(scope="module")
def gemini_program(stack: ServiceStack, gemini: FakeGemini, tmp_path_factory) -> Iterator[pb_grpc.ProgramServiceStub]:
    """A second program service process on the same database, with Gemini configured."""
    port = free_port()
    env = {
        **stack.env,
        "IRONPATH_PROGRAM_PORT": str(port),
        "GEMINI_API_KEY": "test-key-for-the-fake-endpoint",
        "IRONPATH_GEMINI_BASE_URL": gemini.url,
        "IRONPATH_GEMINI_TIMEOUT_SECONDS": "5",
    }
    process = ServiceProcess("program", port, env, tmp_path_factory.mktemp("gemini") / "program.log")
    process.start()
    try:
        process.wait_serving()
        with grpc.insecure_channel(process.address) as channel:
            yield pb_grpc.ProgramServiceStub(channel)
    finally:
        process.stop()


def set_profile(stub: pb_grpc.ProgramServiceStub, md) -> None:
    stub.UpsertProfile(
        pb.UpsertProfileRequest(
            request_id=str(uuid.uuid4()),
            profile=pb.LifterProfile(
                unit=t.WEIGHT_UNIT_KG,
                bodyweight_kg=80,
                experience_level=pb.EXPERIENCE_LEVEL_INTERMEDIATE,
                one_rep_maxes=[
                    pb.OneRepMax(lift=t.MAIN_LIFT_SQUAT, weight_kg=140, tested=True),
                    pb.OneRepMax(lift=t.MAIN_LIFT_BENCH_PRESS, weight_kg=100, tested=True),
                    pb.OneRepMax(lift=t.MAIN_LIFT_DEADLIFT, weight_kg=180, tested=True),
                    pb.OneRepMax(lift=t.MAIN_LIFT_OVERHEAD_PRESS, weight_kg=60, tested=True),
                ],
            ),
        ),
        metadata=md,
    )


def generate_program(stub, md) -> pb.Program:
    request = pb.GenerateProgramRequest(
        request_id=str(uuid.uuid4()),
        goal=pb.TRAINING_GOAL_STRENGTH,
        weeks=4,
        days_per_week=3,
        methodology_id="wendler_531",
        start_date="2026-12-07",
    )
    return stub.GenerateProgram(request, metadata=md, timeout=30).program


def test_a_valid_gemini_answer_becomes_the_program_with_its_logs(gemini_program, gemini, channels, token_for, user_id):
    md = token_for(user_id)
    set_profile(gemini_program, md)
    plan = generate(PROFILE, GenerationRequest("strength", 4, 3, "wendler_531", start_date=date(2026, 12, 7)))
    answer = answer_from(plan)
    answer["weeks"][0]["sessions"][0]["title"] = "Written by the model"
    gemini.answer(json.dumps(answer))
    program = generate_program(gemini_program, md)
    meta = program.generation_metadata
    assert (meta.engine, meta.model, meta.fallback_reason) == ("gemini", "gemini-2.5-flash", "")
    assert program.program_weeks[0].sessions[0].title == "Written by the model"
    assert program.program_weeks[0].sessions[0].exercises[0].sets[0].load_kg > 0  # loads from the 1RMs
    progress = progress_pb2_grpc.ProgressServiceStub(channels["progress"]).GetProgramProgress(
        progress_pb2.GetProgramProgressRequest(program_id=program.program_id), metadata=md
    )
    assert progress.totals.planned_sessions == 12


def test_a_failing_gemini_falls_back_to_the_builtin_generator_and_says_why(gemini_program, gemini, token_for, user_id):
    md = token_for(user_id)
    set_profile(gemini_program, md)
    gemini.fail(500)
    program = generate_program(gemini_program, md)
    meta = program.generation_metadata
    assert (meta.engine, meta.fallback_reason) == ("builtin", "HTTP 500 from Gemini")
    assert sum(len(w.sessions) for w in program.program_weeks) == 12
