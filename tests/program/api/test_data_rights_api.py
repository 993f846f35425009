"""The lifter's data rights on the real stack: ExportMyData gathers every row from all three
services (JSON and Strong CSV, natively and over gRPC-Web through Envoy), and DeleteMyAccount
leaves no row naming the lifter in any database, even when a service was down during it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.common.v1 import training_pb2 as t
from ironpath.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from ironpath.program.v1 import program_pb2 as pb
from ironpath.program.v1 import program_pb2_grpc as pb_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from ironpath_common.auth import mint_user_token
from ironpath_training.exercises import CATALOGUE
from tests.support import grpcweb
from tests.support.rpc import expect_error, expect_invalid
from tests.support.services import ServiceStack

START = date(2026, 11, 2)  # a Monday
KG_PER_LB = 0.45359237
STRONG_HEADER = (
    "Date,Workout Name,Duration,Exercise Name,Set Order,Weight,Reps,Distance,Seconds,Notes,Workout Notes,RPE"
)
DOCUMENT_KEYS = {
    "exported_at",
    "user",
    "profile",
    "programs",
    "progress_logs",
    "workout_feedback",
    "check_ins",
    "readiness_checks",
}
SERVICES = ("program", "progress", "feedback")


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@dataclass
class Seeded:
    user_id: str
    md: list[tuple[str, str]]
    program_id: str
    notes: str
    # (title, exercise name, set number, load in the lifter's unit as Strong shows it, reps, RPE) per set.
    sets: list[tuple[str, str, int, str, int, str]]


def seed(channels, token_for, unit: int, notes: str) -> Seeded:
    """A lifter with a profile, a generated program, two completed sessions with sets (one through
    feedback, with notes), a check-in and a readiness check."""
    user_id = str(uuid.uuid4())
    md = token_for(user_id)
    programs = pb_grpc.ProgramServiceStub(channels["program"])
    progress = progress_pb2_grpc.ProgressServiceStub(channels["progress"])
    feedback = feedback_pb2_grpc.FeedbackServiceStub(channels["feedback"])
    programs.UpsertProfile(
        pb.UpsertProfileRequest(
            request_id=str(uuid.uuid4()),
            profile=pb.LifterProfile(
                unit=unit,
                bodyweight_kg=90,
                experience_level=pb.EXPERIENCE_LEVEL_INTERMEDIATE,
                one_rep_maxes=[
                    pb.OneRepMax(lift=t.MAIN_LIFT_SQUAT, weight_kg=160, tested=True),
                    pb.OneRepMax(lift=t.MAIN_LIFT_BENCH_PRESS, weight_kg=115, tested=True),
                    pb.OneRepMax(lift=t.MAIN_LIFT_DEADLIFT, weight_kg=200, tested=True),
                    pb.OneRepMax(lift=t.MAIN_LIFT_OVERHEAD_PRESS, weight_kg=70, tested=True),
                ],
            ),
        ),
        metadata=md,
        timeout=10,
    )
    program = programs.GenerateProgram(
        pb.GenerateProgramRequest(
            request_id=str(uuid.uuid4()),
            goal=pb.TRAINING_GOAL_STRENGTH,
            weeks=4,
            days_per_week=4,
            methodology_id="wendler_531",
            start_date=START.isoformat(),
        ),
        metadata=md,
        timeout=30,
    ).program
    sessions = {(s.week_number, s.day_number): s for w in program.program_weeks for s in w.sessions}
    per_unit = 1 / KG_PER_LB if unit == t.WEIGHT_UNIT_LB else 1.0
    shown: list[tuple[str, str, int, str, int, str]] = []

    def performed(week: int, day: int, load: float, rpes: list[float | None]) -> list[t.PerformedSet]:
        session = sessions[(week, day)]
        exercise = session.exercises[0].exercise_id
        load_kg = load / per_unit
        made = []
        for number, rpe in enumerate(rpes, start=1):
            made.append(
                t.PerformedSet(
                    exercise_id=exercise,
                    set_number=number,
                    target_reps=5,
                    target_load_kg=load_kg,
                    actual_reps=5,
                    actual_load_kg=load_kg,
                    **({"actual_rpe": rpe} if rpe is not None else {}),
                )
            )
            shown.append(
                (
                    session.title,
                    CATALOGUE[exercise].name,
                    number,
                    str(float(load)),
                    5,
                    str(float(rpe)) if rpe is not None else "",
                )
            )
        return made

    heavy = 225.0 if unit == t.WEIGHT_UNIT_LB else 102.5
    feedback.SubmitWorkoutFeedback(
        feedback_pb2.SubmitWorkoutFeedbackRequest(
            request_id=str(uuid.uuid4()),
            session=t.SessionRef(program_id=program.program_id, week_number=1, day_number=1),
            categories=[t.FEEDBACK_CATEGORY_TOO_HARD],
            session_rpe=9,
            notes=notes,
            performed_sets=performed(1, 1, heavy, [8.0, 8.5, 9.5]),
            complete_time=ts(datetime(2026, 11, 2, 18, 30, tzinfo=UTC)),
        ),
        metadata=md,
        timeout=15,
    )
    progress.MarkSessionComplete(
        progress_pb2.MarkSessionCompleteRequest(
            request_id=str(uuid.uuid4()),
            session=t.SessionRef(program_id=program.program_id, week_number=1, day_number=2),
            complete_time=ts(datetime(2026, 11, 3, 7, 15, tzinfo=UTC)),
            performed_sets=performed(1, 2, heavy - 20 * (1 if unit == t.WEIGHT_UNIT_KG else 2), [None, 7.0]),
            session_rpe=7,
        ),
        metadata=md,
        timeout=10,
    )
    feedback.PerformCheckIn(
        feedback_pb2.PerformCheckInRequest(
            request_id=str(uuid.uuid4()),
            program_id=program.program_id,
            period_start_date="2026-11-02",
            period_end_date="2026-11-08",
        ),
        metadata=md,
        timeout=15,
    )
    feedback.SubmitReadinessCheck(
        feedback_pb2.SubmitReadinessCheckRequest(
            request_id=str(uuid.uuid4()),
            date="2026-11-05",
            sleep_hours=6.5,
            sleep_quality=3,
            stress=3,
            soreness=2,
            energy=4,
            motivation=4,
            session=t.SessionRef(program_id=program.program_id, week_number=1, day_number=3),
        ),
        metadata=md,
        timeout=15,
    )
    return Seeded(user_id, md, program.program_id, notes, shown)


@pytest.fixture
def lifter(channels, token_for) -> Seeded:
    # Pounds, and notes a naive CSV writer would break (a comma, quotes, a new line).
    return seed(channels, token_for, t.WEIGHT_UNIT_LB, 'grindy, but "fine"\nlast set slow')


@pytest.fixture
def other(channels, token_for) -> Seeded:
    return seed(channels, token_for, t.WEIGHT_UNIT_KG, "someone else's session")


@pytest.fixture
def account(channels) -> pb_grpc.AccountServiceStub:
    return pb_grpc.AccountServiceStub(channels["program"])


def export(account: pb_grpc.AccountServiceStub, md, export_format: int) -> list[pb.ExportMyDataResponse]:
    return list(account.ExportMyData(pb.ExportMyDataRequest(format=export_format), metadata=md, timeout=30))


def joined(messages: list[pb.ExportMyDataResponse]) -> str:
    return b"".join(m.data for m in messages).decode()


def query(stack: ServiceStack, service: str, sql: str, *args) -> list[asyncpg.Record]:
    async def run():
        conn = await asyncpg.connect(stack.database_dsn(service))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def rows_naming(stack: ServiceStack, needle: str) -> dict[str, int]:
    """Every column of every table of every service's database that holds `needle`, with how
    many rows: text, uuid, json and array columns as text, and inside bytea (protobuf payloads)."""

    async def scan(service: str) -> dict[str, int]:
        conn = await asyncpg.connect(stack.database_dsn(service))
        found: dict[str, int] = {}
        try:
            columns = await conn.fetch(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type IN "
                "('text', 'character varying', 'uuid', 'json', 'jsonb', 'ARRAY', 'bytea')"
            )
            assert columns, f"no columns found in {service}"
            for c in columns:
                table, column = c["table_name"], c["column_name"]
                if c["data_type"] == "bytea":
                    where = f"position(convert_to($1, 'UTF8') in \"{column}\") > 0"
                else:
                    where = f'strpos("{column}"::text, $1) > 0'
                count = await conn.fetchval(f'SELECT count(*) FROM "{table}" WHERE {where}', needle)
                if count:
                    found[f"{service}.{table}.{column}"] = count
        finally:
            await conn.close()
        return found

    async def run() -> dict[str, int]:
        found: dict[str, int] = {}
        for service in SERVICES:
            found.update(await scan(service))
        return found

    return asyncio.run(run())


def stored_ids(stack: ServiceStack, user_id: str) -> dict[str, set]:
    """The keys of every row the lifter has, read straight from each service's tables."""

    def ids(service: str, sql: str) -> set:
        return {
            tuple(str(v) for v in r.values()) if len(r) > 1 else str(r[0]) for r in query(stack, service, sql, user_id)
        }

    return {
        "programs": ids("program", "SELECT program_id FROM programs WHERE user_id = $1"),
        "program_sessions": ids(
            "program",
            "SELECT s.program_id, s.week_number, s.day_number FROM program_sessions s "
            "JOIN programs p USING (program_id) WHERE p.user_id = $1",
        ),
        "progress_logs": ids(
            "progress", "SELECT program_id, week_number, day_number FROM progress_logs WHERE user_id = $1"
        ),
        "workout_feedback": ids("feedback", "SELECT feedback_id FROM workout_feedback WHERE user_id = $1"),
        "check_ins": ids("feedback", "SELECT check_in_id FROM check_ins WHERE user_id = $1"),
        "readiness_checks": ids("feedback", "SELECT readiness_check_id FROM readiness_checks WHERE user_id = $1"),
    }


def once(keys: list) -> set:
    assert len(keys) == len(set(keys)), "a row appears twice"
    return set(keys)


def test_json_export_holds_every_row_of_the_lifter_once_and_nobody_elses(
    account, lifter: Seeded, other: Seeded, stack: ServiceStack
):
    messages = export(account, lifter.md, pb.EXPORT_FORMAT_JSON)
    assert messages[0].content_type == "application/json" and messages[0].file_name.endswith(".json")
    assert all(not m.content_type and not m.file_name for m in messages[1:])
    text = joined(messages)
    document = json.loads(text)
    assert set(document) == DOCUMENT_KEYS
    assert document["user"]["user_id"] == lifter.user_id
    assert document["profile"]["unit"] == "lb" and document["profile"]["bodyweight_kg"] == 90

    stored = stored_ids(stack, lifter.user_id)
    assert once([p["program_id"] for p in document["programs"]]) == stored["programs"] == {lifter.program_id}
    [program] = document["programs"]
    assert program["generation_metadata"]["engine"] == "builtin"
    assert program["generation_metadata"]["request"] and program["generation_metadata"]["profile_snapshot"]
    assert (
        once([(program["program_id"], str(s["week_number"]), str(s["day_number"])) for s in program["sessions"]])
        == (stored["program_sessions"])
    )
    assert len(program["sessions"]) == 16 and program["sessions"][0]["exercises"][0]["sets"]

    logs = document["progress_logs"]
    assert (
        once([(log["program_id"], str(log["week_number"]), str(log["day_number"])) for log in logs])
        == (stored["progress_logs"])
    )
    assert len(logs) == 16
    completed = {(log["week_number"], log["day_number"]): log for log in logs if log["status"] == "completed"}
    assert set(completed) == {(1, 1), (1, 2)}
    # Planned and performed side by side, as readable JSON (not base64 protobuf).
    first = completed[(1, 1)]
    assert [s["set_number"] for s in first["performed_sets"]] == [1, 2, 3]
    assert first["performed_sets"][0]["actual_load_kg"] == pytest.approx(225 * KG_PER_LB)
    assert first["performed_sets"][0]["actual_rpe"] == 8.0
    assert first["planned_session"]["exercises"][0]["exercise_id"] == first["performed_sets"][0]["exercise_id"]
    assert first["feedback"]["session_rpe"] == 9
    assert "actual_rpe" not in completed[(1, 2)]["performed_sets"][0]  # not reported: absent

    for table in ("workout_feedback", "check_ins", "readiness_checks"):
        key = {"workout_feedback": "feedback_id", "check_ins": "check_in_id"}.get(table, "readiness_check_id")
        assert once([row[key] for row in document[table]]) == stored[table], table
        assert len(stored[table]) == 1, table
        assert all(row["user_id"] == lifter.user_id for row in document[table])
    assert document["workout_feedback"][0]["notes"] == lifter.notes
    assert document["readiness_checks"][0]["adjusted_session"]["exercises"]

    assert other.user_id not in text and other.program_id not in text and other.notes not in text


def test_strong_csv_has_strongs_header_and_one_row_per_performed_set(account, lifter: Seeded, other: Seeded):
    messages = export(account, lifter.md, pb.EXPORT_FORMAT_STRONG_CSV)
    assert messages[0].content_type.startswith("text/csv") and messages[0].file_name.endswith(".csv")
    text = joined(messages)
    assert text.splitlines()[0] == STRONG_HEADER
    header, *body = list(csv.reader(io.StringIO(text)))
    assert ",".join(header) == STRONG_HEADER
    assert len(body) == len(lifter.sets) == 5
    got = [(r[1], r[3], int(r[4]), r[5], int(r[6]), r[11]) for r in body]
    assert sorted(got) == sorted(lifter.sets)
    by_workout = {r[1]: r for r in body}
    day1, day2 = (lifter.sets[0][0], lifter.sets[3][0])
    assert by_workout[day1][0] == "2026-11-02 18:30:00" and by_workout[day2][0] == "2026-11-03 07:15:00"
    # Feedback notes become the workout notes, quoted by the csv module (comma, quotes, new line).
    assert {r[10] for r in body if r[1] == day1} == {lifter.notes}
    assert {r[10] for r in body if r[1] == day2} == {""}
    assert '"grindy, but ""fine""\nlast set slow"' in text
    assert {r[5] for r in body if r[1] == day1} == {"225.0"}  # pounds, as the lifter trains
    assert other.notes not in text and other.user_id not in text


def test_export_streams_through_envoy_over_grpc_web(lifter: Seeded, other: Seeded, envoy, auth):
    token = mint_user_token(auth, lifter.user_id, "lifter@example.com")
    stream = grpcweb.Stream(
        "127.0.0.1",
        envoy.settings.port,
        "/ironpath.program.v1.AccountService/ExportMyData",
        pb.ExportMyDataRequest(format=pb.EXPORT_FORMAT_JSON).SerializeToString(),
        token=token,
    )
    try:
        assert stream.response.status == 200
        messages, trailers = [], {}
        for flag, payload in stream.frames():
            if flag & grpcweb.TRAILERS_FLAG:
                trailers = grpcweb.parse_trailers(payload)
            else:
                messages.append(pb.ExportMyDataResponse.FromString(payload))
    finally:
        stream.close()
    assert trailers.get("grpc-status") == "0", trailers
    assert messages[0].content_type == "application/json"
    document = json.loads(joined(messages))
    assert set(document) == DOCUMENT_KEYS and document["user"]["user_id"] == lifter.user_id
    assert len(document["progress_logs"]) == 16 and len(document["workout_feedback"]) == 1
    csv_reply = grpcweb.call(
        "127.0.0.1",
        envoy.settings.port,
        "/ironpath.program.v1.AccountService/ExportMyData",
        pb.ExportMyDataRequest(format=pb.EXPORT_FORMAT_STRONG_CSV).SerializeToString(),
        token=token,
    )
    assert csv_reply.grpc_status == 0
    text = b"".join(pb.ExportMyDataResponse.FromString(m).data for m in csv_reply.messages).decode()
    assert text.splitlines()[0] == STRONG_HEADER and len(list(csv.reader(io.StringIO(text)))) == 6
    assert other.user_id not in text


@pytest.mark.parametrize("export_format", [pb.EXPORT_FORMAT_UNSPECIFIED, 99])
def test_an_unknown_or_unspecified_format_is_invalid_argument_naming_format(account, token_for, export_format):
    md = token_for(str(uuid.uuid4()))
    expect_invalid("format", lambda: export(account, md, export_format))


def test_an_export_with_a_service_down_is_unavailable(account, lifter: Seeded, stack: ServiceStack):
    feedback = stack.services["feedback"]
    feedback.stop()
    try:
        received = []
        with pytest.raises(grpc.RpcError) as raised:
            for message in account.ExportMyData(
                pb.ExportMyDataRequest(format=pb.EXPORT_FORMAT_JSON), metadata=lifter.md, timeout=30
            ):
                received.append(message)
        # Refused before the first byte: never half a file.
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE and received == []
    finally:
        feedback.start()
        feedback.wait_serving()
    # Back: the program service reconnects (gRPC's reconnect backoff) and exports again.
    deadline = time.monotonic() + 20
    while True:
        try:
            assert json.loads(joined(export(account, lifter.md, pb.EXPORT_FORMAT_JSON)))["workout_feedback"]
            break
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline
            time.sleep(0.2)


def test_a_lifter_with_no_data_exports_an_empty_document(account, token_for):
    user_id = str(uuid.uuid4())
    document = json.loads(joined(export(account, token_for(user_id), pb.EXPORT_FORMAT_JSON)))
    assert document["user"]["user_id"] == user_id and document["profile"] is None
    assert all(document[k] == [] for k in DOCUMENT_KEYS - {"exported_at", "user", "profile"})
    text = joined(export(account, token_for(user_id), pb.EXPORT_FORMAT_STRONG_CSV))
    assert text.splitlines() == [STRONG_HEADER]


def delete_account(account, md, request_id: str | None = None, confirmation: str = "DELETE MY ACCOUNT"):
    request = pb.DeleteMyAccountRequest(request_id=request_id or str(uuid.uuid4()), confirmation=confirmation)
    return account.DeleteMyAccount(request, metadata=md, timeout=15)


def share(account, owner: Seeded, coach: Seeded) -> None:
    """The owner grants the coach read access to their program; the coach accepts."""
    code = account.GrantProgramAccess(
        pb.GrantProgramAccessRequest(
            request_id=str(uuid.uuid4()), program_id=owner.program_id, grantee_email=f"{coach.user_id[:8]}@example.com"
        ),
        metadata=owner.md,
        timeout=10,
    ).grant.invite_code
    account.AcceptProgramGrant(
        pb.AcceptProgramGrantRequest(request_id=str(uuid.uuid4()), invite_code=code), metadata=coach.md, timeout=10
    )


def test_after_delete_my_account_no_table_in_any_database_names_the_lifter(
    account, channels, lifter: Seeded, other: Seeded, stack: ServiceStack
):
    # Grants both ways: the lifter as owner, and as a coach of someone else's program.
    share(account, lifter, other)
    share(account, other, lifter)
    programs = pb_grpc.ProgramServiceStub(channels["program"])
    programs.GetProgram(pb.GetProgramRequest(program_id=lifter.program_id), metadata=other.md, timeout=10)
    before = rows_naming(stack, lifter.user_id)
    # The scan sees the lifter everywhere first (so it would see a leftover).
    assert {name.split(".")[0] for name in before} == set(SERVICES)
    assert {"program.outbox.user_id", "program.grants.owner_user_id", "program.grants.grantee_user_id"} <= set(before)
    assert any(name.startswith("feedback.outbox") for name in before)
    others_before = rows_naming(stack, other.user_id)
    request_id = str(uuid.uuid4())

    delete_account(account, lifter.md, request_id)

    # Erased in every service by the time the call returns (delivered right after commit).
    assert rows_naming(stack, lifter.user_id) == {}
    assert rows_naming(stack, lifter.program_id) == {}
    # A retry is harmless: same answer, still nothing. Nobody else's rows are touched but the
    # grants they shared with the lifter and their stored reply that named the lifter (accepting
    # the lifter's grant).
    assert delete_account(account, lifter.md, request_id) == pb.DeleteMyAccountResponse()
    assert rows_naming(stack, lifter.user_id) == {}
    others_after = rows_naming(stack, other.user_id)
    assert not any(name.startswith("program.grants.") for name in others_after)
    shared = ("program.grants.", "program.processed_requests.")
    assert {k: v for k, v in others_after.items() if not k.startswith(shared)} == {
        k: v for k, v in others_before.items() if not k.startswith(shared)
    }
    assert others_after["program.processed_requests.user_id"] == others_before["program.processed_requests.user_id"] - 1
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        lambda: programs.GetProgram(pb.GetProgramRequest(program_id=lifter.program_id), metadata=other.md, timeout=10),
    )
    document = json.loads(joined(export(account, other.md, pb.EXPORT_FORMAT_JSON)))
    assert len(document["progress_logs"]) == 16 and len(document["workout_feedback"]) == 1


@pytest.mark.parametrize("confirmation", ["", "delete my account", "DELETE MY ACCOUNT ", "DELETE"])
def test_a_wrong_confirmation_is_invalid_argument_and_erases_nothing(
    account, lifter: Seeded, stack: ServiceStack, confirmation
):
    before = rows_naming(stack, lifter.user_id)
    expect_invalid("confirmation", lambda: delete_account(account, lifter.md, confirmation=confirmation))
    assert rows_naming(stack, lifter.user_id) == before


def test_a_bad_request_id_is_invalid_argument_and_erases_nothing(account, lifter: Seeded, stack: ServiceStack):
    before = rows_naming(stack, lifter.user_id)
    expect_invalid("request_id", lambda: delete_account(account, lifter.md, request_id="not-a-uuid"))
    assert rows_naming(stack, lifter.user_id) == before


def test_with_the_progress_service_down_its_data_is_erased_once_it_is_back(
    account, lifter: Seeded, stack: ServiceStack
):
    progress = stack.services["progress"]
    progress.stop()
    try:
        delete_account(account, lifter.md)
        # Feedback is erased (at once, or by the relay if its connection was still coming back
        # from another test); the progress service's rows wait for it, and so does its erase event.
        deadline = time.monotonic() + 20
        while True:
            left = rows_naming(stack, lifter.user_id)
            if not any(name.startswith("feedback.") for name in left):
                break
            assert time.monotonic() < deadline, left
            time.sleep(0.2)
        assert {name for name in left if name.startswith("program.")} <= {
            "program.outbox.user_id",
            "program.outbox.payload",
        }
        assert any(name.startswith("progress.progress_logs") for name in left)
    finally:
        progress.start()
        progress.wait_serving()
    deadline = time.monotonic() + 60
    while (left := rows_naming(stack, lifter.user_id)) != {}:
        assert time.monotonic() < deadline, f"still naming the lifter: {left}"
        time.sleep(0.5)
    time.sleep(1.5)  # later relay passes bring nothing back
    assert rows_naming(stack, lifter.user_id) == {}
