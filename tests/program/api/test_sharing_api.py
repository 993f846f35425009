"""Coach sharing through the program service's real port: a lifter grants a coach read-only access
to one program by a one-time invite code; without a live grant (ungranted, pending, revoked,
expired) the coach sees exactly what a missing program looks like, and never writes."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from ironpath.program.v1 import program_pb2 as pb
from ironpath.program.v1 import program_pb2_grpc as pb_grpc
from tests.program.api.test_program_api import generate
from tests.support.rpc import expect_error, expect_invalid
from tests.support.services import ServiceStack

NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture
def programs(channels) -> pb_grpc.ProgramServiceStub:
    return pb_grpc.ProgramServiceStub(channels["program"])


@pytest.fixture
def accounts(channels) -> pb_grpc.AccountServiceStub:
    return pb_grpc.AccountServiceStub(channels["program"])


@pytest.fixture
def internal(channels) -> pb_grpc.ProgramInternalServiceStub:
    return pb_grpc.ProgramInternalServiceStub(channels["program"])


class Person:
    """A signed-in user: id, email (as the token carries it) and call metadata."""

    def __init__(self, token_for) -> None:
        self.user_id = str(uuid.uuid4())
        self.email = f"{self.user_id[:8]}@example.com"
        self.md = token_for(self.user_id)


@pytest.fixture
def person(token_for):
    return lambda: Person(token_for)


@pytest.fixture
def owner(person) -> Person:
    return person()


@pytest.fixture
def coach(person) -> Person:
    return person()


@pytest.fixture
def program(programs, owner) -> pb.Program:
    return generate(programs, owner.md, weeks=2, days_per_week=3)


def timestamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def grant(accounts, who: Person, program_id: str, email: str, request_id: str | None = None, **fields) -> pb.Grant:
    request = pb.GrantProgramAccessRequest(
        request_id=request_id or str(uuid.uuid4()), program_id=program_id, grantee_email=email, **fields
    )
    return accounts.GrantProgramAccess(request, metadata=who.md, timeout=10).grant


def accept(accounts, who: Person, code: str, request_id: str | None = None) -> pb.Grant:
    request = pb.AcceptProgramGrantRequest(request_id=request_id or str(uuid.uuid4()), invite_code=code)
    return accounts.AcceptProgramGrant(request, metadata=who.md, timeout=10).grant


def revoke(accounts, who: Person, grant_id: str) -> pb.Grant:
    request = pb.RevokeGrantRequest(request_id=str(uuid.uuid4()), grant_id=grant_id)
    return accounts.RevokeGrant(request, metadata=who.md, timeout=10).grant


def list_grants(accounts, who: Person, page_size: int = 0) -> list[pb.Grant]:
    found: list[pb.Grant] = []
    request = pb.ListGrantsRequest(page_size=page_size)
    while True:
        reply = accounts.ListGrants(request, metadata=who.md, timeout=10)
        found += reply.grants
        if not reply.next_page_token:
            return found
        request.page_token = reply.next_page_token


def read(programs, who: Person, program_id: str) -> pb.Program:
    return programs.GetProgram(pb.GetProgramRequest(program_id=program_id), metadata=who.md, timeout=10).program


def check(internal, service_token, who: Person, program_id: str) -> pb.CheckProgramAccessResponse:
    request = pb.CheckProgramAccessRequest(user_id=who.user_id, program_id=program_id)
    return internal.CheckProgramAccess(request, metadata=service_token("progress"), timeout=10)


def shared(accounts, owner: Person, coach: Person, program_id: str, **fields) -> pb.Grant:
    """A grant the coach accepted."""
    return accept(accounts, coach, grant(accounts, owner, program_id, coach.email, **fields).invite_code)


def missing_program_message(programs, who: Person) -> str:
    error = expect_error(NOT_FOUND, lambda: read(programs, who, str(uuid.uuid4())))
    return error.details()


def expect_no_access(programs, internal, service_token, who: Person, program_id: str) -> None:
    """NOT_FOUND with a missing program's very message, for the public read and the internal check."""
    error = expect_error(NOT_FOUND, lambda: read(programs, who, program_id))
    assert error.details() == missing_program_message(programs, who)
    expect_error(NOT_FOUND, lambda: check(internal, service_token, who, program_id))


def test_a_coach_with_an_accepted_grant_reads_the_program(
    programs, accounts, internal, service_token, owner, coach, program
):
    invited = grant(accounts, owner, program.program_id, coach.email)
    assert invited.state == pb.GRANT_STATE_PENDING and invited.grantee_email == coach.email
    assert len(invited.invite_code) >= 22  # at least 128 bits, URL-safe base64
    assert invited.invite_code.replace("-", "").replace("_", "").isalnum()
    accepted = accept(accounts, coach, invited.invite_code)
    assert accepted.state == pb.GRANT_STATE_ACTIVE and accepted.grantee_user_id == coach.user_id
    assert accepted.invite_code == ""

    seen = read(programs, coach, program.program_id)
    assert seen.access == pb.PROGRAM_ACCESS_COACH_READ
    assert seen.program_weeks == program.program_weeks and seen.name == program.name
    assert read(programs, owner, program.program_id).access == pb.PROGRAM_ACCESS_OWNER

    as_coach = check(internal, service_token, coach, program.program_id)
    assert as_coach.access == pb.PROGRAM_ACCESS_COACH_READ and as_coach.owner_user_id == owner.user_id
    as_owner = check(internal, service_token, owner, program.program_id)
    assert as_owner.access == pb.PROGRAM_ACCESS_OWNER and as_owner.owner_user_id == owner.user_id

    # ListPrograms stays the caller's own programs.
    listed = programs.ListPrograms(pb.ListProgramsRequest(), metadata=coach.md, timeout=10).programs
    assert program.program_id not in [p.program_id for p in listed]


def test_ungranted_and_pending_grants_give_no_access(
    programs, accounts, internal, service_token, owner, coach, person, program
):
    stranger = person()
    expect_no_access(programs, internal, service_token, stranger, program.program_id)
    grant(accounts, owner, program.program_id, coach.email)  # invited, never accepted
    expect_no_access(programs, internal, service_token, coach, program.program_id)


def test_revoking_takes_effect_on_the_next_call(programs, accounts, internal, service_token, owner, coach, program):
    given = shared(accounts, owner, coach, program.program_id)
    assert read(programs, coach, program.program_id).access == pb.PROGRAM_ACCESS_COACH_READ
    revoked = revoke(accounts, owner, given.grant_id)
    assert revoked.state == pb.GRANT_STATE_REVOKED
    expect_no_access(programs, internal, service_token, coach, program.program_id)
    # Revoking again changes nothing.
    assert revoke(accounts, owner, given.grant_id).update_time == revoked.update_time


def test_a_coach_may_leave_by_revoking_the_grant_they_hold(
    programs, accounts, internal, service_token, owner, coach, program
):
    given = shared(accounts, owner, coach, program.program_id)
    assert revoke(accounts, coach, given.grant_id).state == pb.GRANT_STATE_REVOKED
    expect_no_access(programs, internal, service_token, coach, program.program_id)
    assert read(programs, owner, program.program_id).access == pb.PROGRAM_ACCESS_OWNER


def test_another_user_cannot_revoke_a_grant(programs, accounts, owner, coach, person, program):
    given = shared(accounts, owner, coach, program.program_id)
    pending = grant(accounts, owner, program.program_id, "someone@example.com")
    stranger = person()
    for grant_id in (given.grant_id, pending.grant_id, str(uuid.uuid4())):
        error = expect_error(NOT_FOUND, lambda g=grant_id: revoke(accounts, stranger, g))
        assert error.details() == "grant not found"
    assert read(programs, coach, program.program_id).access == pb.PROGRAM_ACCESS_COACH_READ
    assert {g.grant_id: g.state for g in list_grants(accounts, owner)} == {
        given.grant_id: pb.GRANT_STATE_ACTIVE,
        pending.grant_id: pb.GRANT_STATE_PENDING,
    }


def test_an_expired_grant_gives_no_access_and_its_code_no_longer_works(
    programs, accounts, internal, service_token, owner, coach, person, program
):
    soon = datetime.now(UTC) + timedelta(seconds=2)
    given = shared(accounts, owner, coach, program.program_id, expire_time=timestamp(soon))
    late = person()
    unaccepted = grant(accounts, owner, program.program_id, late.email, expire_time=timestamp(soon))
    assert read(programs, coach, program.program_id).access == pb.PROGRAM_ACCESS_COACH_READ
    assert abs(given.expire_time.ToDatetime(tzinfo=UTC) - soon) < timedelta(milliseconds=1)
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.3)

    expect_no_access(programs, internal, service_token, coach, program.program_id)
    expect_error(NOT_FOUND, lambda: accept(accounts, late, unaccepted.invite_code))
    states = {g.grant_id: g.state for g in list_grants(accounts, owner)}
    assert states == {given.grant_id: pb.GRANT_STATE_EXPIRED, unaccepted.grant_id: pb.GRANT_STATE_EXPIRED}
    assert [g.state for g in list_grants(accounts, coach)] == [pb.GRANT_STATE_EXPIRED]


def test_a_coach_cannot_write(programs, accounts, channels, owner, coach, program):
    shared(accounts, owner, coach, program.program_id)
    archive = pb.ArchiveProgramRequest(request_id=str(uuid.uuid4()), program_id=program.program_id)
    error = expect_error(NOT_FOUND, lambda: programs.ArchiveProgram(archive, metadata=coach.md, timeout=10))
    assert error.details() == missing_program_message(programs, coach)
    # Nor re-share the program, nor check in on it (the feedback service asks for ownership).
    expect_error(NOT_FOUND, lambda: grant(accounts, coach, program.program_id, "other@example.com"))
    feedback = feedback_pb2_grpc.FeedbackServiceStub(channels["feedback"])
    check_in = feedback_pb2.PerformCheckInRequest(request_id=str(uuid.uuid4()), program_id=program.program_id)
    expect_error(NOT_FOUND, lambda: feedback.PerformCheckIn(check_in, metadata=coach.md, timeout=15))
    assert read(programs, owner, program.program_id).state == pb.PROGRAM_STATE_ACTIVE


def test_a_grant_to_oneself_or_with_bad_fields_is_invalid_and_writes_nothing(accounts, owner, program):
    pid = program.program_id
    expect_invalid("grantee_email", lambda: grant(accounts, owner, pid, owner.email))
    expect_invalid("grantee_email", lambda: grant(accounts, owner, pid, "  " + owner.email.upper()))
    expect_invalid("grantee_email", lambda: grant(accounts, owner, pid, "not-an-email"))
    expect_invalid("grantee_email", lambda: grant(accounts, owner, pid, ""))
    past = timestamp(datetime.now(UTC) - timedelta(minutes=1))
    expect_invalid("expire_time", lambda: grant(accounts, owner, pid, "coach@example.com", expire_time=past))
    expect_invalid("program_id", lambda: grant(accounts, owner, "nope", "coach@example.com"))
    expect_invalid("request_id", lambda: grant(accounts, owner, pid, "coach@example.com", request_id="x"))
    assert list_grants(accounts, owner) == []


def test_someone_elses_program_cannot_be_shared_and_looks_missing(programs, accounts, person, program):
    stranger = person()
    theirs = expect_error(NOT_FOUND, lambda: grant(accounts, stranger, program.program_id, "c@example.com"))
    missing = expect_error(NOT_FOUND, lambda: grant(accounts, stranger, str(uuid.uuid4()), "c@example.com"))
    assert theirs.details() == missing.details() == missing_program_message(programs, stranger)


def test_an_invite_code_works_once(programs, accounts, owner, coach, person, program):
    invited = grant(accounts, owner, program.program_id, coach.email)
    # The owner cannot accept their own grant, and trying does not use the code up.
    expect_invalid("invite_code", lambda: accept(accounts, owner, invited.invite_code))
    accept(accounts, coach, invited.invite_code)
    other = person()
    expect_error(NOT_FOUND, lambda: accept(accounts, other, invited.invite_code))
    expect_error(NOT_FOUND, lambda: accept(accounts, coach, invited.invite_code))
    expect_error(NOT_FOUND, lambda: read(programs, other, program.program_id))

    unknown = expect_error(NOT_FOUND, lambda: accept(accounts, other, "x" * 32))
    revoked = grant(accounts, owner, program.program_id, other.email)
    revoke(accounts, owner, revoked.grant_id)
    after_revoke = expect_error(NOT_FOUND, lambda: accept(accounts, other, revoked.invite_code))
    assert unknown.details() == after_revoke.details()
    expect_invalid("invite_code", lambda: accept(accounts, other, ""))


def test_accept_replayed_with_the_same_request_id_returns_the_first_response(accounts, owner, coach, program):
    invited = grant(accounts, owner, program.program_id, coach.email)
    request_id = str(uuid.uuid4())
    first = accept(accounts, coach, invited.invite_code, request_id=request_id)
    assert accept(accounts, coach, invited.invite_code, request_id=request_id) == first


def test_a_newer_grant_to_the_same_coach_replaces_the_older_one(
    programs, accounts, internal, service_token, owner, coach, program
):
    older = shared(accounts, owner, coach, program.program_id)
    newer = shared(accounts, owner, coach, program.program_id)
    states = {g.grant_id: g.state for g in list_grants(accounts, owner)}
    assert states == {older.grant_id: pb.GRANT_STATE_REVOKED, newer.grant_id: pb.GRANT_STATE_ACTIVE}
    # So one revocation always ends the coach's access.
    revoke(accounts, owner, newer.grant_id)
    expect_no_access(programs, internal, service_token, coach, program.program_id)


def test_list_grants_shows_both_sides_paginated_and_never_the_code(programs, accounts, owner, coach, person, program):
    given = shared(accounts, owner, coach, program.program_id)
    pending = grant(accounts, owner, program.program_id, "later@example.com")
    coachs_own = generate(programs, coach.md, weeks=1, days_per_week=2)
    held_by_owner = shared(accounts, coach, owner, coachs_own.program_id)

    owner_side = list_grants(accounts, owner, page_size=1)
    assert [g.grant_id for g in owner_side] == [held_by_owner.grant_id, pending.grant_id, given.grant_id]
    coach_side = list_grants(accounts, coach)
    assert [g.grant_id for g in coach_side] == [held_by_owner.grant_id, given.grant_id]
    assert all(g.invite_code == "" for g in owner_side + coach_side)
    mine = {g.grant_id: g for g in owner_side}
    assert mine[given.grant_id].owner_user_id == owner.user_id
    assert mine[given.grant_id].grantee_user_id == coach.user_id
    assert mine[held_by_owner.grant_id].grantee_user_id == owner.user_id
    assert mine[pending.grant_id].grantee_user_id == "" and mine[pending.grant_id].state == pb.GRANT_STATE_PENDING
    assert list_grants(accounts, person()) == []
    expect_invalid("page_token", lambda: accounts.ListGrants(pb.ListGrantsRequest(page_token="??"), metadata=owner.md))


def test_grant_replayed_with_the_same_request_id_returns_the_first_response_and_creates_one_grant(
    accounts, owner, program
):
    request_id = str(uuid.uuid4())
    first = grant(accounts, owner, program.program_id, "coach@example.com", request_id=request_id)
    again = grant(accounts, owner, program.program_id, "coach@example.com", request_id=request_id)
    # The replay carries the same invite code: only this caller can replay this request_id (stored
    # requests are keyed by user), and the code was the caller's to hand out in the first place.
    assert again == first and again.invite_code
    assert [g.grant_id for g in list_grants(accounts, owner)] == [first.grant_id]
    expect_invalid(
        "request_id", lambda: grant(accounts, owner, program.program_id, "other@example.com", request_id=request_id)
    )


def test_no_table_keeps_an_invite_code(accounts, owner, program, stack: ServiceStack):
    invited = grant(accounts, owner, program.program_id, "coach@example.com")
    code = invited.invite_code

    async def stored() -> tuple[bytes, int, int]:
        conn = await asyncpg.connect(stack.database_dsn("program"))
        try:
            digest = await conn.fetchval(
                "SELECT invite_code_sha256 FROM grants WHERE grant_id = $1", uuid.UUID(invited.grant_id)
            )
            in_grants = await conn.fetchval("SELECT count(*) FROM grants g WHERE strpos(g::text, $1) > 0", code)
            in_requests = await conn.fetchval(
                "SELECT count(*) FROM processed_requests WHERE position(convert_to($1, 'UTF8') in response) > 0", code
            )
            return digest, in_grants, in_requests
        finally:
            await conn.close()

    digest, in_grants, in_requests = asyncio.run(stored())
    assert digest == hashlib.sha256(code.encode()).digest()
    assert in_grants == 0 and in_requests == 0
