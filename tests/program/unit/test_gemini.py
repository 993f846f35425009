"""The Gemini engine through the real google-genai SDK against a local endpoint that answers like
the Gemini API: a valid answer is used as sent; every invalid, late or failed answer is replaced
by the built-in generator's program, with the reason in the generation metadata."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import pytest

from program_svc.domain import GenerationRequest, OneRepMax, Plan, Profile, plan_problems
from program_svc.engines import snapshot
from program_svc.gemini import GeminiEngine, gemini_engine_from_env
from program_svc.generator import generate
from program_svc.methodologies import BY_ID
from tests.support.fake_gemini import FakeGemini, answer_from
from tests.support.ports import free_port

API_KEY = "test-gemini-key-0123456789"
MODEL = "gemini-2.5-flash"

LIFTER = Profile(
    unit="kg",
    bodyweight_kg=82.0,
    one_rep_maxes=(
        OneRepMax("squat", 150.0, True),
        OneRepMax("bench_press", 105.0, True),
        OneRepMax("deadlift", 190.0, False),
        OneRepMax("overhead_press", 62.5, True),
    ),
    experience_level="intermediate",
    training_age_years=3,
)
REQUEST = GenerationRequest(
    goal="strength", weeks=4, days_per_week=3, focus_areas=("bench_press",), start_date=date(2026, 1, 5)
)
WENDLER = BY_ID["wendler_531"]

# Lifters and requests whose built-in programs make realistic answers: kg and lb, known and
# estimated 1RMs, substituted variations with their own load factors, dated and undated.
VALID_CASES = {
    "531-kg": (LIFTER, REQUEST, "wendler_531"),
    "linear-lb-estimated": (
        Profile(unit="lb", bodyweight_kg=90.0, one_rep_maxes=(OneRepMax("squat", 120.0, True),)),
        GenerationRequest(goal="strength", weeks=3, days_per_week=3),
        "linear_progression",
    ),
    "block-knee-no-rack": (
        dataclasses.replace(
            LIFTER,
            experience_level="advanced",
            limitations=("knee",),
            equipment=("barbell", "bench", "dumbbells", "cable", "machines"),
        ),
        GenerationRequest(goal="peaking", weeks=5, days_per_week=4, start_date=date(2026, 3, 2)),
        "block_periodization",
    ),
}


def builtin_plan(
    profile: Profile = LIFTER, request: GenerationRequest = REQUEST, methodology_id: str = "wendler_531"
) -> Plan:
    return generate(profile, dataclasses.replace(request, methodology_id=methodology_id))


def first_main_set(answer: dict[str, Any]) -> dict[str, Any]:
    exercise = answer["weeks"][0]["sessions"][0]["exercises"][0]
    assert exercise["main_lift"] is not None
    return exercise["sets"][0]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    # The SDK's HTTP client honours proxy variables; the fake server is local.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server.reset()
    return server


@pytest.fixture(scope="module")
async def engine(server: FakeGemini) -> AsyncIterator[GeminiEngine]:
    # One engine for the module, as the service keeps one: it holds no state between programs.
    engine = GeminiEngine(API_KEY, model=MODEL, timeout_seconds=3.0, base_url=server.url)
    yield engine
    await engine.aclose()


async def assert_falls_back(engine: GeminiEngine, reason: str) -> None:
    plan, metadata = await engine.write(LIFTER, REQUEST, WENDLER)
    assert metadata.engine == "builtin"
    assert metadata.model == MODEL
    assert metadata.fallback_reason == reason
    assert plan == builtin_plan()
    assert plan_problems(plan, REQUEST, LIFTER) == []
    assert metadata.request["methodology_id"] == "wendler_531"
    assert metadata.profile_snapshot == snapshot(LIFTER)


@pytest.mark.parametrize("case", VALID_CASES)
async def test_a_valid_answer_is_used_as_the_model_sent_it(fake: FakeGemini, engine: GeminiEngine, case: str) -> None:
    profile, request, methodology_id = VALID_CASES[case]
    reference = builtin_plan(profile, request, methodology_id)
    # The model's own titles, so a fallback to the built-in plan could not pass for its answer.
    sent = Plan(
        reference.methodology_id,
        tuple(
            week._replace(sessions=tuple(s._replace(title=f"Gemini: {s.title}") for s in week.sessions))
            for week in reference.weeks
        ),
    )
    fake.answer(json.dumps(answer_from(sent)))

    plan, metadata = await engine.write(profile, request, BY_ID[methodology_id])

    assert metadata.engine == "gemini"
    assert metadata.model == MODEL
    assert metadata.fallback_reason == ""
    # Loads (from the working 1RM, scaled to the variation, rounded down to plates) and dates are
    # computed exactly as the built-in generator computes them.
    assert plan == sent
    assert plan_problems(plan, request, profile) == []
    assert metadata.request == snapshot(dataclasses.replace(request, methodology_id=methodology_id))
    assert metadata.profile_snapshot == snapshot(profile)
    assert metadata.duration_ms >= 0
    assert metadata.generated_at.tzinfo is not None


async def test_the_request_is_a_structured_generate_content_call(fake: FakeGemini, engine: GeminiEngine) -> None:
    fake.answer(json.dumps(answer_from(builtin_plan())))

    await engine.write(LIFTER, REQUEST, WENDLER)

    [received] = fake.requests
    assert received.path == f"/v1beta/models/{MODEL}:generateContent"
    assert received.headers["x-goog-api-key"] == API_KEY
    config = received.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert schema["type"] == "OBJECT"
    weeks = schema["properties"]["weeks"]
    # The SDK sends the schema's proto field names (min_items); the API reads either spelling.
    assert weeks.get("min_items", weeks.get("minItems")) == REQUEST.weeks
    assert weeks.get("max_items", weeks.get("maxItems")) == REQUEST.weeks
    exercise = weeks["items"]["properties"]["sessions"]["items"]["properties"]["exercises"]["items"]
    assert "back_squat" in exercise["properties"]["exercise_id"]["enum"]
    assert set(exercise["properties"]["sets"]["items"]["required"]) == {"reps", "percent_1rm", "rpe_target", "amrap"}
    prompt = received.prompt()
    assert "Wendler 5/3/1 (wendler_531)" in prompt
    assert json.dumps(WENDLER.rules, sort_keys=True) in prompt
    assert "Unit: kg" in prompt
    assert "12 sessions" in prompt


async def test_unsafe_exercises_are_not_offered_to_a_lifter_with_a_painful_knee(fake: FakeGemini) -> None:
    profile, request, methodology_id = VALID_CASES["block-knee-no-rack"]
    engine = GeminiEngine(API_KEY, model=MODEL, timeout_seconds=3.0, base_url=fake.url)
    fake.answer("not json")
    await engine.write(profile, request, BY_ID[methodology_id])
    await engine.aclose()

    [received] = fake.requests
    schema = received.body["generationConfig"]["responseSchema"]
    exercise = schema["properties"]["weeks"]["items"]["properties"]["sessions"]["items"]["properties"]["exercises"]
    offered = set(exercise["items"]["properties"]["exercise_id"]["enum"])
    assert {"back_squat", "front_squat", "leg_press", "box_squat"} & offered == set()
    assert "back_squat (" not in received.prompt()
    assert "Limitations (painful areas, never load them): knee" in received.prompt()


async def test_malformed_json_falls_back_to_the_builtin_generator(fake: FakeGemini, engine: GeminiEngine) -> None:
    fake.answer('{"weeks": [{"week_number": 1, "phase": ')
    await assert_falls_back(engine, "malformed JSON")


async def test_a_percentage_above_the_1rm_falls_back(fake: FakeGemini, engine: GeminiEngine) -> None:
    answer = answer_from(builtin_plan())
    first_main_set(answer)["percent_1rm"] = 1.3
    fake.answer(json.dumps(answer))
    # 130 % of a 150 kg squat is 195 kg on the bar, above the lifter's 1RM.
    await assert_falls_back(
        engine, "week 1 day 1 back_squat: 130% of 1RM; week 1 day 1 back_squat: load 195.0 above the 1RM 150.0"
    )


async def test_a_negative_percentage_falls_back(fake: FakeGemini, engine: GeminiEngine) -> None:
    answer = answer_from(builtin_plan())
    first_main_set(answer)["percent_1rm"] = -0.5
    fake.answer(json.dumps(answer))
    await assert_falls_back(engine, "week 1 day 1 back_squat: -50% of 1RM")


async def test_rpe_14_falls_back(fake: FakeGemini, engine: GeminiEngine) -> None:
    answer = answer_from(builtin_plan())
    answer["weeks"][1]["sessions"][2]["exercises"][0]["sets"][1]["rpe_target"] = 14
    fake.answer(json.dumps(answer))
    await assert_falls_back(engine, "week 2 day 3 overhead_press: RPE 14.0")


async def test_a_wrong_session_count_falls_back(fake: FakeGemini, engine: GeminiEngine) -> None:
    answer = answer_from(builtin_plan())
    del answer["weeks"][3]["sessions"][2]
    fake.answer(json.dumps(answer))
    await assert_falls_back(engine, "11 sessions instead of 12; sessions do not cover every week and day exactly once")


async def test_a_wrong_week_count_falls_back(fake: FakeGemini, engine: GeminiEngine) -> None:
    answer = answer_from(builtin_plan())
    answer["weeks"] = answer["weeks"][:1]
    fake.answer(json.dumps(answer))
    await assert_falls_back(engine, "1 weeks instead of 4; 3 sessions instead of 12 (and 1 more)")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda a: first_main_set(a).pop("reps"),
            "malformed plan: weeks[0].sessions[0].exercises[0].sets[0].reps is missing",
        ),
        (
            lambda a: first_main_set(a).update(reps="five"),
            "malformed plan: weeks[0].sessions[0].exercises[0].sets[0].reps is not an integer",
        ),
        (
            lambda a: first_main_set(a).update(amrap="no"),
            "malformed plan: weeks[0].sessions[0].exercises[0].sets[0].amrap is not true or false",
        ),
        (lambda a: a.update(weeks={"1": []}), "malformed plan: answer.weeks is not a list"),
        (lambda a: a["weeks"].__setitem__(0, "week one"), "malformed plan: weeks[0] is not an object"),
        (
            lambda a: a["weeks"][0]["sessions"][0]["exercises"][0].update(exercise_id="laser_squat"),
            "unknown exercise 'laser_squat' at weeks[0].sessions[0].exercises[0]",
        ),
        (
            lambda a: a["weeks"][0]["sessions"][0]["exercises"][0].update(exercise_id="leg_curl"),
            "leg_curl does not stand in for the squat at weeks[0].sessions[0].exercises[0]",
        ),
    ],
    ids=["missing-field", "wrong-type", "not-a-bool", "weeks-not-a-list", "week-not-an-object", "unknown", "stand-in"],
)
async def test_an_answer_of_the_wrong_shape_falls_back(
    fake: FakeGemini, engine: GeminiEngine, damage: Any, reason: str
) -> None:
    answer = answer_from(builtin_plan())
    damage(answer)
    fake.answer(json.dumps(answer))
    await assert_falls_back(engine, reason)


async def test_an_exercise_that_loads_a_painful_area_falls_back(fake: FakeGemini, engine: GeminiEngine) -> None:
    lifter = dataclasses.replace(LIFTER, limitations=("shoulder",))
    answer = answer_from(builtin_plan())  # the unrestricted lifter's plan: squat, then bench press on day 1
    fake.answer(json.dumps(answer))

    plan, metadata = await engine.write(lifter, REQUEST, WENDLER)

    assert metadata.engine == "builtin"
    assert metadata.fallback_reason == "bench_press loads the painful shoulder at weeks[0].sessions[0].exercises[1]"
    assert plan == builtin_plan(lifter)


async def test_an_answer_cut_short_falls_back(fake: FakeGemini, engine: GeminiEngine) -> None:
    fake.answer(json.dumps(answer_from(builtin_plan()))[:500], finish_reason="MAX_TOKENS")
    await assert_falls_back(engine, "answer cut short (MAX_TOKENS)")


async def test_a_late_answer_falls_back_at_the_deadline(fake: FakeGemini) -> None:
    fake.stall(5.0, json.dumps(answer_from(builtin_plan())))
    engine = GeminiEngine(API_KEY, model=MODEL, timeout_seconds=0.5, base_url=fake.url)
    started = time.perf_counter()

    await assert_falls_back(engine, "timeout after 0.5 s")

    assert time.perf_counter() - started < 1.5
    await engine.aclose()


@pytest.mark.parametrize("status", [500, 429, 503, 400])
async def test_an_http_error_falls_back_without_retrying(fake: FakeGemini, engine: GeminiEngine, status: int) -> None:
    fake.fail(status)
    await assert_falls_back(engine, f"HTTP {status} from Gemini")
    assert len(fake.requests) == 1


async def test_an_unreachable_endpoint_falls_back(fake: FakeGemini) -> None:
    engine = GeminiEngine(API_KEY, model=MODEL, timeout_seconds=3.0, base_url=f"http://127.0.0.1:{free_port()}")
    await assert_falls_back(engine, "Gemini call failed: ConnectError")
    await engine.aclose()


async def test_one_info_line_per_generation_without_the_prompt_or_the_key(
    fake: FakeGemini, engine: GeminiEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake.answer(json.dumps(answer_from(builtin_plan())))
    await engine.write(LIFTER, REQUEST, WENDLER)
    fake.answer("{")
    await engine.write(LIFTER, REQUEST, WENDLER)
    fake.fail(500)
    await engine.write(LIFTER, REQUEST, WENDLER)

    ours = [r for r in caplog.records if r.name == "program_svc.gemini"]
    assert [r.levelno for r in ours] == [logging.INFO] * 3
    messages = [r.getMessage() for r in ours]
    assert messages[0].startswith("program written engine=gemini model=gemini-2.5-flash outcome=ok duration_ms=")
    assert messages[0].endswith(" tokens=2000")
    # A thrown-away answer was still paid for: its tokens are logged.
    assert "engine=builtin model=gemini-2.5-flash outcome=fallback: malformed JSON" in messages[1]
    assert messages[1].endswith(" tokens=2000")
    assert "engine=builtin model=gemini-2.5-flash outcome=fallback: HTTP 500 from Gemini" in messages[2]
    for record in caplog.records:
        message = record.getMessage()
        assert API_KEY not in message
        assert "## Lifter" not in message
        assert "150.0" not in message


def test_the_engine_is_built_from_the_environment_only_with_a_key() -> None:
    assert gemini_engine_from_env({}) is None
    assert gemini_engine_from_env({"GEMINI_API_KEY": "  "}) is None

    engine = gemini_engine_from_env({"GEMINI_API_KEY": API_KEY})
    assert engine is not None
    assert (engine.model, engine.timeout_seconds) == ("gemini-2.5-flash", 20.0)
    assert API_KEY not in repr(engine)

    engine = gemini_engine_from_env(
        {
            "GEMINI_API_KEY": API_KEY,
            "IRONPATH_GEMINI_MODEL": "gemini-2.5-pro",
            "IRONPATH_GEMINI_TIMEOUT_SECONDS": "7.5",
            "IRONPATH_GEMINI_BASE_URL": "http://127.0.0.1:9",
        }
    )
    assert engine is not None
    assert (engine.model, engine.timeout_seconds) == ("gemini-2.5-pro", 7.5)


@pytest.mark.parametrize("timeout", ["soon", "0", "-1", "601"])
def test_a_bad_timeout_in_the_environment_is_refused(timeout: str) -> None:
    with pytest.raises(ValueError, match="IRONPATH_GEMINI_TIMEOUT_SECONDS"):
        gemini_engine_from_env({"GEMINI_API_KEY": API_KEY, "IRONPATH_GEMINI_TIMEOUT_SECONDS": timeout})
