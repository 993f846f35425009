"""The web app in a real browser (Debian's Chromium through playwright-core) against the real
services behind the real Envoy, over gRPC-Web.

The module serves the built app (web/dist) with a config.json naming its own Envoy, which allows
exactly that page's origin (CORS). Each test runs one scenario of web/tests/e2e/scenarios.mjs in
Node, reads what the browser saw from its `RESULT` line, and checks the server directly over gRPC:
what the page says was saved must be what the services hold. Screenshots of each main screen go
to build/screenshots/ for a person to look at (the committed set in web/screenshots/ came from here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from deploy.local.supervisor import envoy_healthy_hosts
from deploy.local.webapp import WebServer, web_config
from gateway.config import GatewaySettings
from gateway.envoy import EnvoyProcess
from ironpath.common.v1 import training_pb2
from ironpath.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from ironpath.program.v1 import program_pb2, program_pb2_grpc
from ironpath.progress.v1 import progress_pb2, progress_pb2_grpc
from ironpath_common.auth import mint_user_token
from ironpath_common.settings import AuthSettings
from tests.support.ports import free_port
from tests.support.services import ServiceStack

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
DIST = WEB / "dist"
# Each run saves its screenshots under build/ (ignored), so a test run leaves the tree clean; the
# reviewed set in web/screenshots/ is refreshed with IRONPATH_SCREENSHOTS_DIR=web/screenshots.
SCREENSHOTS = Path(os.environ.get("IRONPATH_SCREENSHOTS_DIR") or REPO / "build" / "screenshots").resolve()
ENSURE_CHROMIUM = WEB / "tests" / "e2e" / "ensure-chromium.sh"
SCENARIO_TIMEOUT_SECONDS = 150
COMPLETED = progress_pb2.SESSION_STATUS_COMPLETED


@dataclass
class WebStack:
    app_url: str
    gateway: str
    chromium: str
    failure_dir: Path
    restart_gateway: Callable[[], None]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(path).exists():
        # CI machines start without a browser: Debian's package, installed once (about 30 s).
        subprocess.run(["bash", str(ENSURE_CHROMIUM)], check=True, timeout=600)
    return path


def _wait_routed(envoy: EnvoyProcess, stack: ServiceStack, timeout: float = 30.0) -> None:
    expected = {f"{name}::{stack.address(name)}" for name in stack.names}
    deadline = time.monotonic() + timeout
    while expected - envoy_healthy_hosts(envoy.admin_url):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Envoy does not see the services healthy: {expected}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def web(stack: ServiceStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the browser tests need it (make test installs the web app with npm)")
    if not (DIST / "index.html").is_file() or not (WEB / "node_modules" / "playwright-core").is_dir():
        pytest.fail("web/dist or web/node_modules missing: run `make web-build` (make test does)")
    chromium = _chromium()
    web_port = free_port()
    origin = f"http://127.0.0.1:{web_port}"
    # An Envoy of this module's own: the gateway allows exactly the page's origin.
    env = {
        **stack.env,
        "IRONPATH_GATEWAY_PORT": str(free_port()),
        "IRONPATH_ENVOY_ADMIN_PORT": str(free_port()),
        "IRONPATH_CORS_ORIGINS": origin,
    }
    settings = GatewaySettings.from_env(env)
    log_dir = Path(tmp_path_factory.mktemp("web-envoy"))
    envoys = [EnvoyProcess(settings, base_id=settings.port, log_dir=log_dir).start()]

    def restart_gateway() -> None:
        envoys[-1].stop()
        envoys.append(EnvoyProcess(settings, base_id=settings.port, log_dir=log_dir).start())
        _wait_routed(envoys[-1], stack)

    try:
        _wait_routed(envoys[-1], stack)
        server = WebServer(DIST, web_config(f"http://127.0.0.1:{settings.port}"), port=web_port).start()
        try:
            yield WebStack(
                app_url=f"{origin}/",
                gateway=f"127.0.0.1:{settings.port}",
                chromium=chromium,
                failure_dir=Path(tmp_path_factory.mktemp("web-failures")),
                restart_gateway=restart_gateway,
            )
        finally:
            server.stop()
    finally:
        envoys[-1].stop()


def run_scenario(
    web: WebStack, name: str, on_pause: dict[str, Callable[[], None]] | None = None, **fields: Any
) -> dict[str, Any]:
    """Runs one browser scenario and returns what it reported. A scenario that prints `PAUSE <what>`
    waits until `on_pause[what]` has run here (e.g. restarting Envoy under an open stream)."""
    description = {"appUrl": web.app_url, "shots": str(SCREENSHOTS), "failureShots": str(web.failure_dir), **fields}
    env = {**os.environ, "IRONPATH_E2E": json.dumps(description), "CHROMIUM_PATH": web.chromium}
    started = time.monotonic()
    stderr = web.failure_dir / f"{name}.stderr"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            ["node", "tests/e2e/scenarios.mjs", name],
            cwd=WEB,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        killer = threading.Timer(SCENARIO_TIMEOUT_SECONDS, proc.kill)
        killer.start()
        stdout: list[str] = []
        try:
            assert proc.stdout is not None and proc.stdin is not None
            for line in proc.stdout:
                stdout.append(line)
                if line.startswith("PAUSE "):
                    (on_pause or {})[line.split()[1]]()
                    proc.stdin.write("GO\n")
                    proc.stdin.flush()
            code = proc.wait()
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    seconds = time.monotonic() - started
    output = f"exit {code} after {seconds:.1f} s\n{''.join(stdout)[-4000:]}\n{stderr.read_text()[-8000:]}"
    lines = [line for line in stdout if line.startswith("RESULT ")]
    assert code == 0 and lines, f"scenario {name} failed (screenshots in {web.failure_dir}):\n{output}"
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    assert result.get("errors") == [], f"errors in the page: {result.get('errors')}"
    return result


# -- a lifter, set up directly over gRPC --------------------------------------------------------


@dataclass
class Lifter:
    user_id: str
    token: str
    metadata: list[tuple[str, str]]


@pytest.fixture
def new_lifter(auth: AuthSettings) -> Callable[[], Lifter]:
    def make() -> Lifter:
        user_id = str(uuid.uuid4())
        token = mint_user_token(auth, user_id, f"{user_id[:8]}@example.com")
        return Lifter(user_id, token, [("authorization", f"Bearer {token}")])

    return make


def _program_stub(stack: ServiceStack) -> program_pb2_grpc.ProgramServiceStub:
    return program_pb2_grpc.ProgramServiceStub(grpc.insecure_channel(stack.address("program")))


def _progress_stub(stack: ServiceStack) -> progress_pb2_grpc.ProgressServiceStub:
    return progress_pb2_grpc.ProgressServiceStub(grpc.insecure_channel(stack.address("progress")))


def give_program(stack: ServiceStack, lifter: Lifter, weeks: int = 2, days: int = 3) -> program_pb2.Program:
    """A profile (bodyweight 80 kg) and a Wendler program, made the way any client would."""
    program = _program_stub(stack)
    program.UpsertProfile(
        program_pb2.UpsertProfileRequest(
            request_id=str(uuid.uuid4()),
            profile=program_pb2.LifterProfile(
                unit=training_pb2.WEIGHT_UNIT_KG,
                bodyweight_kg=80,
                experience_level=program_pb2.EXPERIENCE_LEVEL_INTERMEDIATE,
                one_rep_maxes=[
                    program_pb2.OneRepMax(lift=training_pb2.MAIN_LIFT_SQUAT, weight_kg=140, tested=True),
                    program_pb2.OneRepMax(lift=training_pb2.MAIN_LIFT_BENCH_PRESS, weight_kg=100),
                    program_pb2.OneRepMax(lift=training_pb2.MAIN_LIFT_DEADLIFT, weight_kg=170),
                    program_pb2.OneRepMax(lift=training_pb2.MAIN_LIFT_OVERHEAD_PRESS, weight_kg=60),
                ],
            ),
        ),
        metadata=lifter.metadata,
        timeout=10,
    )
    reply = program.GenerateProgram(
        program_pb2.GenerateProgramRequest(
            request_id=str(uuid.uuid4()),
            goal=program_pb2.TRAINING_GOAL_STRENGTH,
            weeks=weeks,
            days_per_week=days,
            methodology_id="wendler_531",
            name=f"Program of {lifter.user_id[:8]}",
        ),
        metadata=lifter.metadata,
        timeout=30,
    )
    return reply.program


def progress_of(stack: ServiceStack, lifter: Lifter, program_id: str) -> progress_pb2.GetProgramProgressResponse:
    reply: progress_pb2.GetProgramProgressResponse = _progress_stub(stack).GetProgramProgress(
        progress_pb2.GetProgramProgressRequest(program_id=program_id, view=progress_pb2.PROGRESS_VIEW_FULL),
        metadata=lifter.metadata,
        timeout=10,
    )
    return reply


def completed(progress: progress_pb2.GetProgramProgressResponse) -> dict[tuple[int, int], progress_pb2.SessionLog]:
    return {(log.week_number, log.day_number): log for log in progress.logs if log.status == COMPLETED}


def planned_set_count(log: progress_pb2.SessionLog) -> int:
    return sum(len(exercise.sets) for exercise in log.prescription.exercises)


# -- the scenarios ----------------------------------------------------------------------------


def test_whole_journey_sign_in_profile_531_train_feedback_adjustment_check_in(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter], record_property: Callable[[str, object], None]
) -> None:
    lifter = new_lifter()
    seen = run_scenario(web, "journey", token=lifter.token)

    # The profile the form saved, as the program service holds it.
    profile = _program_stub(stack).GetProfile(program_pb2.GetProfileRequest(), metadata=lifter.metadata).profile
    maxes = {m.lift: (m.weight_kg, m.tested) for m in profile.one_rep_maxes}
    assert profile.bodyweight_kg == pytest.approx(82.5)
    assert maxes[training_pb2.MAIN_LIFT_SQUAT] == (pytest.approx(140), True)
    assert maxes[training_pb2.MAIN_LIFT_BENCH_PRESS] == (pytest.approx(100), False)
    assert profile.experience_level == program_pb2.EXPERIENCE_LEVEL_INTERMEDIATE

    # A 5/3/1 program of 4 weeks, its last one a deload, shown week by week with loads in kg.
    program = (
        _program_stub(stack)
        .GetProgram(program_pb2.GetProgramRequest(program_id=seen["programId"]), metadata=lifter.metadata)
        .program
    )
    assert program.methodology_id == "wendler_531"
    assert (program.weeks, program.days_per_week) == (4, 4)
    assert len(seen["weekHeadings"]) == 4 and "Deload" in seen["weekHeadings"][3]
    assert any(" kg · RPE " in line for line in seen["firstSets"])

    # The session completed with the sets logged against the plan (one set changed by the lifter).
    progress = progress_of(stack, lifter, seen["programId"])
    done = completed(progress)
    assert list(done) == [(1, 1)]
    log = done[(1, 1)]
    assert len(log.performed_sets) == seen["loggedSets"] == planned_set_count(log)
    opening = log.prescription.exercises[0].exercise_id
    first = next(s for s in log.performed_sets if s.exercise_id == opening and s.set_number == 1)
    assert (first.actual_reps, first.actual_rpe) == (7, 7.5)
    assert first.target_reps != 0 and first.actual_load_kg == pytest.approx(first.target_load_kg)

    # Feedback went to the feedback service, which adjusted what comes next; the page showed why.
    assert log.feedback.categories == [training_pb2.FEEDBACK_CATEGORY_TOO_EASY]
    assert seen["reason"] == log.feedback.adjustment_reason != ""
    later = [other for other in progress.logs if (other.week_number, other.day_number) != (1, 1)]
    assert any(other.prescription_adjusted for other in later)

    # The readiness check and the check-in, from the stored logs.
    assert "Readiness" in seen["readiness"]
    check_ins = feedback_pb2_grpc.FeedbackServiceStub(grpc.insecure_channel(stack.address("feedback"))).ListCheckIns(
        feedback_pb2.ListCheckInsRequest(program_id=seen["programId"]), metadata=lifter.metadata
    )
    assert len(check_ins.check_ins) == 1
    assert check_ins.check_ins[0].sessions_completed == 1
    assert "1 of 1 sessions" in seen["checkIn"]
    assert seen["completion"].startswith("1 of 16 sessions completed")
    assert seen["analytics"] in ("available", "unavailable")
    assert seen["exportStatus"].startswith(("Ready", "Export is not available yet"))

    render = seen["render"]
    record_property("program_first_render_cold_ms", render["coldMs"])
    record_property("program_first_render_warm_ms", render["warmMs"])
    print(f"\n[web] program screen first render: cold {render['coldMs']} ms, warm {render['warmMs']} ms")


def test_offline_completions_survive_a_reload_and_land_exactly_once(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter]
) -> None:
    lifter = new_lifter()
    program = give_program(stack, lifter)
    seen = run_scenario(web, "offline", token=lifter.token, programId=program.program_id)

    assert seen["queuedBeforeReload"] == 3
    assert seen["queuedAfterReload"] == 3
    assert seen["waitingBadges"] == 3
    progress = progress_of(stack, lifter, program.program_id)
    done = completed(progress)
    assert sorted(done) == [(1, 1), (1, 2), (1, 3)]
    assert progress.totals.completed_sessions == 3
    assert len(progress.logs) == program.weeks * program.days_per_week
    for log in done.values():
        # Every set once: a replay that doubled anything would show here.
        assert len(log.performed_sets) == planned_set_count(log)
        assert len({(s.exercise_id, s.set_number) for s in log.performed_sets}) == len(log.performed_sets)
        # The time the lifter completed it (offline), not the time it was replayed.
        assert log.complete_time.ToMilliseconds() < seen["onlineAt"]


def test_a_completion_on_one_device_appears_on_the_other_within_a_second(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter], record_property: Callable[[str, object], None]
) -> None:
    lifter = new_lifter()
    program = give_program(stack, lifter)
    seen = run_scenario(web, "twoDevices", token=lifter.token, programId=program.program_id)
    record_property("second_device_latency_ms", seen["latencyMs"])
    print(f"\n[web] completion seen on the second device after {seen['latencyMs']} ms")
    assert 0 <= seen["latencyMs"] < 1000
    assert list(completed(progress_of(stack, lifter, program.program_id))) == [(1, 1)]


def test_clearing_browser_storage_after_sync_loses_nothing(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter]
) -> None:
    lifter = new_lifter()
    program = give_program(stack, lifter)
    seen = run_scenario(web, "storageCleared", token=lifter.token, programId=program.program_id)
    assert seen["storedAfterClear"] == 0
    assert seen["completed"] == 2
    done = completed(progress_of(stack, lifter, program.program_id))
    assert sorted(done) == [(1, 1), (1, 2)]
    assert seen["lifted"] == len(done[(1, 1)].performed_sets) > 0


def test_another_lifters_program_in_the_address_is_not_found(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter]
) -> None:
    owner, intruder = new_lifter(), new_lifter()
    program = give_program(stack, owner)
    seen = run_scenario(web, "notFound", token=intruder.token, otherProgramId=program.program_id)
    for screen, shown in seen["seen"].items():
        assert shown["heading"] == "Program not found", screen
        assert program.name not in shown["text"], screen
        assert "Squat" not in shown["text"] and "Bench" not in shown["text"], screen
        assert shown["exercises"] == 0, screen


def test_a_refused_token_returns_to_sign_in_and_keeps_queued_work(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter], auth: AuthSettings
) -> None:
    lifter = new_lifter()
    program = give_program(stack, lifter)
    # Same lifter, but a signature the gateway refuses (as after a key rotation or a revoked session).
    bad = mint_user_token(auth, lifter.user_id, "x@example.com", secret="not-the-secret-" + "x" * 32)
    seen = run_scenario(web, "tokenRejected", token=lifter.token, badToken=bad, programId=program.program_id)
    assert seen["queued"] == 1
    assert "1 action saved on this device" in seen["message"]
    done = completed(progress_of(stack, lifter, program.program_id))
    assert list(done) == [(1, 1)]
    assert len(done[(1, 1)].performed_sets) == planned_set_count(done[(1, 1)])


def test_a_profile_conflict_shows_both_versions_and_the_lifters_choice_wins(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter]
) -> None:
    lifter = new_lifter()
    give_program(stack, lifter)
    seen = run_scenario(web, "profileConflict", token=lifter.token)
    assert "79 kg" in seen["shown"] and "81 kg" in seen["shown"]
    profile = _program_stub(stack).GetProfile(program_pb2.GetProfileRequest(), metadata=lifter.metadata).profile
    assert profile.bodyweight_kg == pytest.approx(79)


def test_the_old_apps_progress_is_offered_once_and_imported(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter]
) -> None:
    lifter = new_lifter()
    program = give_program(stack, lifter)
    completed_at = "2026-01-05T18:42:10.512Z"
    # What the old app's Zustand `persist` kept under its key (docs/import.md).
    state = {
        "state": {
            "currentProgram": {"id": "an-old-id"},
            "completedSessions": [
                {
                    "weekNumber": 1,
                    "dayNumber": 1,
                    "completedAt": completed_at,
                    "sets": [{"exercise": "back_squat", "set": 1, "reps": 5, "weightKg": 100, "rpe": 8}],
                    "sessionRpe": 8,
                    "notes": "From the old app.",
                },
                {"weekNumber": 13, "dayNumber": 1, "completedAt": completed_at},
            ],
            "feedback": [{"weekNumber": 1, "dayNumber": 1, "categories": ["too_easy"]}],
        },
        "version": 0,
    }
    seen = run_scenario(
        web, "legacyImport", token=lifter.token, programId=program.program_id, legacyState=json.dumps(state)
    )
    assert "2 completed sessions" in seen["offered"]
    assert "Taken: 1 · not taken: 2" in seen["report"]
    assert "week 13 day 1 is not a session of this program" in seen["report"]
    assert seen["offeredAgain"] == 0
    done = completed(progress_of(stack, lifter, program.program_id))
    assert list(done) == [(1, 1)]
    assert done[(1, 1)].complete_time.ToJsonString() == "2026-01-05T18:42:10.512Z"


def test_live_updates_come_back_after_the_gateway_restarts(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter], record_property: Callable[[str, object], None]
) -> None:
    lifter = new_lifter()
    program = give_program(stack, lifter)
    restart = {"restart-envoy": web.restart_gateway}
    seen = run_scenario(web, "reconnect", on_pause=restart, token=lifter.token, programId=program.program_id)
    # The stream was cut (down) and came back by itself (up), then carried the next completion.
    assert seen["transitions"][:2] == ["down", "up"]
    record_property("watch_reconnect_ms", seen["reconnectedAfterMs"])
    print(f"\n[web] live updates back {seen['reconnectedAfterMs']} ms after the gateway went away")


def test_deleting_the_account_erases_it_and_signs_out(
    web: WebStack, stack: ServiceStack, new_lifter: Callable[[], Lifter]
) -> None:
    lifter = new_lifter()
    program = give_program(stack, lifter)
    seen = run_scenario(web, "deleteAccount", token=lifter.token, programId=program.program_id)
    assert seen["disabledBefore"] is True
    assert seen["left"] == []
    programs = _program_stub(stack).ListPrograms(program_pb2.ListProgramsRequest(), metadata=lifter.metadata)
    assert list(programs.programs) == []
    with pytest.raises(grpc.RpcError) as missing:
        _program_stub(stack).GetProfile(program_pb2.GetProfileRequest(), metadata=lifter.metadata)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
