"""The program service through its real port: profiles, methodologies, programs, and the
progress log every generated session gets through the outbox."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from ironpath.common.v1 import training_pb2 as t
from ironpath.program.v1 import program_pb2 as pb
from ironpath.program.v1 import program_pb2_grpc as pb_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from tests.support.rpc import expect_error, expect_invalid
from tests.support.services import ServiceStack


@pytest.fixture
def program_stub(channels) -> pb_grpc.ProgramServiceStub:
    return pb_grpc.ProgramServiceStub(channels["program"])


@pytest.fixture
def progress_stub(channels) -> progress_pb2_grpc.ProgressServiceStub:
    return progress_pb2_grpc.ProgressServiceStub(channels["progress"])


@pytest.fixture
def me(token_for, user_id):
    return token_for(user_id)


def strong_profile() -> pb.LifterProfile:
    return pb.LifterProfile(
        unit=t.WEIGHT_UNIT_KG,
        bodyweight_kg=82.5,
        height_cm=180,
        age_years=31,
        one_rep_maxes=[
            pb.OneRepMax(lift=t.MAIN_LIFT_SQUAT, weight_kg=140, tested=True),
            pb.OneRepMax(lift=t.MAIN_LIFT_BENCH_PRESS, weight_kg=100, tested=True),
            pb.OneRepMax(lift=t.MAIN_LIFT_DEADLIFT, weight_kg=180, tested=False),
            pb.OneRepMax(lift=t.MAIN_LIFT_OVERHEAD_PRESS, weight_kg=60, tested=True),
        ],
        experience_level=pb.EXPERIENCE_LEVEL_INTERMEDIATE,
        training_age_years=3,
        equipment=[t.EQUIPMENT_BARBELL, t.EQUIPMENT_SQUAT_RACK, t.EQUIPMENT_BENCH, t.EQUIPMENT_DUMBBELLS],
        goals=[pb.TRAINING_GOAL_STRENGTH],
    )


def upsert(stub, md, profile: pb.LifterProfile, paths=(), etag: str = "", request_id: str | None = None):
    request = pb.UpsertProfileRequest(
        request_id=request_id or str(uuid.uuid4()), profile=profile, update_mask=FieldMask(paths=list(paths)), etag=etag
    )
    return stub.UpsertProfile(request, metadata=md, timeout=10).profile


def generate(stub, md, request_id: str | None = None, **fields) -> pb.Program:
    fields = {
        "goal": pb.TRAINING_GOAL_STRENGTH,
        "weeks": 4,
        "days_per_week": 4,
        "methodology_id": "wendler_531",
    } | fields
    request = pb.GenerateProgramRequest(request_id=request_id or str(uuid.uuid4()), **fields)
    return stub.GenerateProgram(request, metadata=md, timeout=30).program


def test_get_me_creates_the_user_on_first_call(program_stub, me, user_id):
    first = program_stub.GetMe(pb.GetMeRequest(), metadata=me).user
    again = program_stub.GetMe(pb.GetMeRequest(), metadata=me).user
    assert first.user_id == user_id and first.email.endswith("@example.com")
    assert first.create_time == again.create_time


def test_profile_is_created_updated_by_mask_and_guarded_by_etag(program_stub, me):
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: program_stub.GetProfile(pb.GetProfileRequest(), metadata=me))
    created = upsert(program_stub, me, strong_profile())
    assert created.etag == "1" and len(created.one_rep_maxes) == 4
    changed = upsert(program_stub, me, pb.LifterProfile(bodyweight_kg=84), paths=["bodyweight_kg"], etag=created.etag)
    assert changed.bodyweight_kg == 84 and changed.etag == "2"
    assert changed.one_rep_maxes == created.one_rep_maxes  # untouched by the mask
    # A second device still holding etag 1 loses, and changes nothing.
    expect_error(
        grpc.StatusCode.ABORTED,
        lambda: upsert(program_stub, me, pb.LifterProfile(bodyweight_kg=70), paths=["bodyweight_kg"], etag="1"),
    )
    stored = program_stub.GetProfile(pb.GetProfileRequest(), metadata=me).profile
    assert stored.bodyweight_kg == 84 and stored.etag == "2"


def test_upsert_is_committed_and_survives_a_new_connection(program_stub, me, stack: ServiceStack):
    upsert(program_stub, me, strong_profile())
    with grpc.insecure_channel(stack.address("program")) as fresh:
        profile = pb_grpc.ProgramServiceStub(fresh).GetProfile(pb.GetProfileRequest(), metadata=me).profile
    assert profile.bodyweight_kg == 82.5  # the seed's flush()-without-commit bug cannot happen


def test_upsert_replayed_with_the_same_request_id_has_one_effect(program_stub, me):
    request_id = str(uuid.uuid4())
    first = upsert(program_stub, me, strong_profile(), request_id=request_id)
    again = upsert(program_stub, me, strong_profile(), request_id=request_id)
    assert first == again and again.etag == "1"


@pytest.mark.parametrize(
    ("field", "profile", "paths"),
    [
        ("update_mask", pb.LifterProfile(), ["etag"]),
        ("update_mask", pb.LifterProfile(), ["user_id"]),
        ("profile.unit", pb.LifterProfile(unit=t.WEIGHT_UNIT_UNSPECIFIED), ["unit"]),
        (
            "profile.one_rep_maxes[0].weight_kg",
            pb.LifterProfile(one_rep_maxes=[pb.OneRepMax(lift=t.MAIN_LIFT_SQUAT, weight_kg=-10)]),
            ["one_rep_maxes"],
        ),
        (
            "profile.one_rep_maxes[0].weight_kg",
            pb.LifterProfile(one_rep_maxes=[pb.OneRepMax(lift=t.MAIN_LIFT_SQUAT, weight_kg=900)]),
            ["one_rep_maxes"],
        ),
        (
            "profile.one_rep_maxes[0].lift",
            pb.LifterProfile(one_rep_maxes=[pb.OneRepMax(weight_kg=100)]),
            ["one_rep_maxes"],
        ),
        ("profile.bodyweight_kg", pb.LifterProfile(bodyweight_kg=-1), ["bodyweight_kg"]),
        ("profile.experience_level", pb.LifterProfile(), ["experience_level"]),
    ],
)
def test_bad_profile_input_names_the_field_and_writes_nothing(program_stub, me, field, profile, paths):
    expect_invalid(field, lambda: upsert(program_stub, me, profile, paths=paths))
    expect_error(grpc.StatusCode.NOT_FOUND, lambda: program_stub.GetProfile(pb.GetProfileRequest(), metadata=me))


def test_the_methodology_library_is_listed_and_each_can_be_read(program_stub, me):
    first = program_stub.ListMethodologies(pb.ListMethodologiesRequest(page_size=3), metadata=me)
    rest = program_stub.ListMethodologies(
        pb.ListMethodologiesRequest(page_size=3, page_token=first.next_page_token), metadata=me
    )
    ids = [m.methodology_id for m in [*first.methodologies, *rest.methodologies]]
    assert sorted(ids) == [
        "block_periodization",
        "daily_undulating",
        "linear_progression",
        "rpe_autoregulation",
        "wendler_531",
    ]
    assert not rest.next_page_token
    wendler = program_stub.GetMethodology(
        pb.GetMethodologyRequest(methodology_id="wendler_531"), metadata=me
    ).methodology
    assert (
        wendler.cycle_weeks == 4
        and "fourth week" in wendler.deload_rule.lower()
        and '"training_max_percent": 0.9' in wendler.rules_json
    )
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: program_stub.GetMethodology(pb.GetMethodologyRequest(methodology_id="nope"), metadata=me),
    )


def test_generate_writes_every_session_and_a_progress_log_for_each_at_once(program_stub, progress_stub, me):
    upsert(program_stub, me, strong_profile())
    program = generate(program_stub, me, weeks=8, days_per_week=4, start_date="2026-12-07")
    assert program.methodology_id == "wendler_531" and program.display_unit == t.WEIGHT_UNIT_KG
    sessions = [s for w in program.program_weeks for s in w.sessions]
    assert len(sessions) == 32
    assert [w.deload for w in program.program_weeks] == [False, False, False, True] * 2
    squat = sessions[3].exercises[0]
    assert squat.exercise_id == "back_squat" and squat.sets[2].load_kg == 105.0  # 85 % of a 126 kg training max
    assert sessions[0].planned_date == "2026-12-07"
    meta = program.generation_metadata
    assert meta.engine == "builtin" and '"weeks": 8' in meta.request_json and "140" in meta.profile_snapshot_json
    # The logs exist the moment GenerateProgram returns.
    progress = progress_stub.GetProgramProgress(
        progress_pb2.GetProgramProgressRequest(program_id=program.program_id), metadata=me
    )
    assert progress.totals.planned_sessions == 32


def test_generate_replayed_with_the_same_request_id_makes_one_program(program_stub, me):
    request_id = str(uuid.uuid4())
    first = generate(program_stub, me, request_id=request_id)
    again = generate(program_stub, me, request_id=request_id)
    assert first.program_id == again.program_id
    listed = program_stub.ListPrograms(pb.ListProgramsRequest(), metadata=me).programs
    assert [p.program_id for p in listed] == [first.program_id]


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("weeks", {"weeks": 0}),
        ("weeks", {"weeks": 53}),
        ("days_per_week", {"days_per_week": 7}),
        ("methodology_id", {"methodology_id": "crossfit"}),
        ("goal", {"goal": pb.TRAINING_GOAL_UNSPECIFIED}),
        ("start_date", {"start_date": "next monday"}),
        ("focus_areas[0]", {"focus_areas": ["toes"]}),
        ("request_id", {}),
    ],
)
def test_bad_generation_input_names_the_field_and_writes_nothing(program_stub, me, field, fields):
    request_id = "not-a-uuid" if field == "request_id" else None
    expect_invalid(field, lambda: generate(program_stub, me, request_id=request_id, **fields))
    assert list(program_stub.ListPrograms(pb.ListProgramsRequest(), metadata=me).programs) == []


def test_programs_are_listed_newest_first_and_paginated(program_stub, me):
    made = [generate(program_stub, me, weeks=1, days_per_week=2).program_id for _ in range(3)]
    first = program_stub.ListPrograms(pb.ListProgramsRequest(page_size=2), metadata=me)
    rest = program_stub.ListPrograms(pb.ListProgramsRequest(page_size=2, page_token=first.next_page_token), metadata=me)
    assert [p.program_id for p in [*first.programs, *rest.programs]] == made[::-1]
    assert not first.programs[0].program_weeks  # lists carry the basic view


def test_archiving_hides_a_program_from_the_default_list_and_keeps_its_logs(program_stub, progress_stub, me):
    program = generate(program_stub, me, weeks=1, days_per_week=2)
    archived = program_stub.ArchiveProgram(
        pb.ArchiveProgramRequest(request_id=str(uuid.uuid4()), program_id=program.program_id, etag=program.etag),
        metadata=me,
    ).program
    assert archived.state == pb.PROGRAM_STATE_ARCHIVED
    assert list(program_stub.ListPrograms(pb.ListProgramsRequest(), metadata=me).programs) == []
    assert len(program_stub.ListPrograms(pb.ListProgramsRequest(include_archived=True), metadata=me).programs) == 1
    full = program_stub.GetProgram(pb.GetProgramRequest(program_id=program.program_id), metadata=me).program
    assert len(full.program_weeks[0].sessions) == 2
    progress = progress_stub.GetProgramProgress(
        progress_pb2.GetProgramProgressRequest(program_id=program.program_id), metadata=me
    )
    assert progress.totals.planned_sessions == 2
    expect_error(
        grpc.StatusCode.ABORTED,
        lambda: program_stub.ArchiveProgram(
            pb.ArchiveProgramRequest(request_id=str(uuid.uuid4()), program_id=program.program_id, etag=program.etag),
            metadata=me,
        ),
    )


def test_another_users_program_is_not_found(program_stub, me, token_for):
    program = generate(program_stub, me, weeks=1, days_per_week=2)
    intruder = token_for(str(uuid.uuid4()))
    missing = expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: program_stub.GetProgram(pb.GetProgramRequest(program_id=str(uuid.uuid4())), metadata=intruder),
    )
    for call in (
        lambda: program_stub.GetProgram(pb.GetProgramRequest(program_id=program.program_id), metadata=intruder),
        lambda: program_stub.ArchiveProgram(
            pb.ArchiveProgramRequest(request_id=str(uuid.uuid4()), program_id=program.program_id), metadata=intruder
        ),
    ):
        assert expect_error(grpc.StatusCode.NOT_FOUND, call).details() == missing.details()
    assert (
        program_stub.GetProgram(pb.GetProgramRequest(program_id=program.program_id), metadata=me).program.state
        == pb.PROGRAM_STATE_ACTIVE
    )


def test_a_stopped_progress_service_delays_the_logs_and_never_doubles_them(
    program_stub, progress_stub, me, stack: ServiceStack
):
    progress = stack.services["progress"]
    progress.stop()
    try:
        program = generate(program_stub, me, weeks=3, days_per_week=3)  # succeeds with progress down
    finally:
        progress.start()
        progress.wait_serving()
    deadline = time.monotonic() + 20
    planned = 0
    while time.monotonic() < deadline:
        try:
            planned = progress_stub.GetProgramProgress(
                progress_pb2.GetProgramProgressRequest(program_id=program.program_id), metadata=me, timeout=5
            ).totals.planned_sessions
            break
        except grpc.RpcError as error:
            assert error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE)
            time.sleep(0.2)
    assert planned == 9
    time.sleep(1.5)  # any further relay pass must not add a thing
    again = progress_stub.GetProgramProgress(
        progress_pb2.GetProgramProgressRequest(program_id=program.program_id), metadata=me
    )
    assert again.totals.planned_sessions == 9


def test_internal_planned_session_reads_one_session_and_those_after_it(
    channels, program_stub, me, user_id, service_token
):
    program = generate(program_stub, me, weeks=2, days_per_week=3)
    internal = pb_grpc.ProgramInternalServiceStub(channels["program"])
    reply = internal.GetPlannedSession(
        pb.GetPlannedSessionRequest(
            user_id=user_id,
            session=t.SessionRef(program_id=program.program_id, week_number=1, day_number=3),
            following_count=2,
        ),
        metadata=service_token("feedback"),
    )
    assert (reply.session.week_number, reply.session.day_number) == (1, 3)
    assert [(s.week_number, s.day_number) for s in reply.following_sessions] == [(2, 1), (2, 2)]
    assert (reply.program_weeks, reply.days_per_week) == (2, 3)
    expect_invalid(
        "session",
        lambda: internal.GetPlannedSession(
            pb.GetPlannedSessionRequest(
                user_id=user_id, session=t.SessionRef(program_id=program.program_id, week_number=13, day_number=1)
            ),
            metadata=service_token("feedback"),
        ),
    )
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: internal.GetPlannedSession(
            pb.GetPlannedSessionRequest(
                user_id="someone-else", session=t.SessionRef(program_id=program.program_id, week_number=1, day_number=1)
            ),
            metadata=service_token("feedback"),
        ),
    )
