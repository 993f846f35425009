"""Builders for the progress API tests: programs created the way the program service creates
them (InitializeProgramLogs with a service token) and stubs on the service's own port."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest

from ironpath.common.v1 import training_pb2 as t
from ironpath.progress.v1 import progress_pb2 as pb
from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc

Metadata = list[tuple[str, str]]


def planned_sessions(weeks: int, days: int) -> list[t.PlannedSession]:
    return [
        t.PlannedSession(
            week_number=week,
            day_number=day,
            title=f"Week {week} day {day}",
            planned_date=f"2026-01-{(week - 1) * 7 + day:02d}" if week <= 4 else "",
            exercises=[
                t.ExercisePrescription(
                    exercise_id="back_squat",
                    name="Back Squat",
                    main_lift=t.MAIN_LIFT_SQUAT,
                    order=1,
                    sets=[
                        t.SetPrescription(set_number=n, reps=5, percent_1rm=0.75, load_kg=100, rpe_target=7.5)
                        for n in (1, 2, 3)
                    ],
                )
            ],
        )
        for week in range(1, weeks + 1)
        for day in range(1, days + 1)
    ]


def performed(count: int = 3, load: float = 100.0, rpe: float | None = 8.0) -> list[t.PerformedSet]:
    sets = []
    for n in range(1, count + 1):
        s = t.PerformedSet(
            exercise_id="back_squat",
            set_number=n,
            target_reps=5,
            target_load_kg=100,
            target_rpe=7.5,
            actual_reps=5,
            actual_load_kg=load,
        )
        if rpe is not None:
            s.actual_rpe = rpe
        sets.append(s)
    return sets


@dataclass
class Lifter:
    """A user with a program, and stubs that call as that user."""

    user_id: str
    program_id: str
    metadata: Metadata
    stub: pb_grpc.ProgressServiceStub

    def ref(self, week: int, day: int, program_id: str | None = None) -> t.SessionRef:
        return t.SessionRef(program_id=program_id or self.program_id, week_number=week, day_number=day)

    def complete(self, week: int, day: int, request_id: str | None = None, **fields) -> pb.MarkSessionCompleteResponse:
        request = pb.MarkSessionCompleteRequest(
            request_id=request_id or str(uuid.uuid4()), session=self.ref(week, day), **fields
        )
        return self.stub.MarkSessionComplete(request, metadata=self.metadata, timeout=10)

    def progress(self, full: bool = False) -> pb.GetProgramProgressResponse:
        view = pb.PROGRESS_VIEW_FULL if full else pb.PROGRESS_VIEW_SUMMARY
        return self.stub.GetProgramProgress(
            pb.GetProgramProgressRequest(program_id=self.program_id, view=view), metadata=self.metadata, timeout=10
        )


@pytest.fixture
def progress_stub(channels: dict[str, grpc.Channel]) -> pb_grpc.ProgressServiceStub:
    return pb_grpc.ProgressServiceStub(channels["progress"])


@pytest.fixture
def internal_stub(channels: dict[str, grpc.Channel]) -> pb_grpc.ProgressInternalServiceStub:
    return pb_grpc.ProgressInternalServiceStub(channels["progress"])


@pytest.fixture
def initialize(internal_stub, service_token) -> Callable[..., pb.InitializeProgramLogsResponse]:
    def call(user_id: str, program_id: str, sessions: list[t.PlannedSession]) -> pb.InitializeProgramLogsResponse:
        request = pb.InitializeProgramLogsRequest(
            event_id=str(uuid.uuid4()), user_id=user_id, program_id=program_id, sessions=sessions
        )
        return internal_stub.InitializeProgramLogs(request, metadata=service_token("program"), timeout=10)

    return call


@pytest.fixture
def new_lifter(initialize, progress_stub, token_for) -> Callable[..., Lifter]:
    def make(weeks: int = 2, days: int = 3, stub: pb_grpc.ProgressServiceStub | None = None) -> Lifter:
        user_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
        initialize(user_id, program_id, planned_sessions(weeks, days))
        return Lifter(user_id, program_id, token_for(user_id), stub or progress_stub)

    return make
