"""`ironpath`: sign in, then read and write your training through the gateway.

Exit codes: 0 done, 1 server error, 2 usage (a bad argument, or one the server refused),
3 not signed in or token refused, 4 not found, 5 unavailable (try again).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from ironpath.common.v1 import training_pb2 as t
from ironpath.feedback.v1 import feedback_pb2 as fb
from ironpath.program.v1 import program_pb2 as pg
from ironpath.progress.v1 import progress_pb2 as pr
from ironpath_cli import credentials as creds
from ironpath_cli.api import (
    AUTH,
    DEFAULT_GATEWAY,
    GENERATE_TIMEOUT_SECONDS,
    NOT_FOUND,
    OK,
    SERVER_ERROR,
    USAGE,
    ApiError,
    Gateway,
)
from ironpath_cli.render import (
    enum_word,
    enum_words,
    load,
    loads_summary,
    rpe_summary,
    sets_summary,
    table,
)

GOALS = enum_words(pg.TrainingGoal.DESCRIPTOR)
EXPERIENCE = enum_words(pg.ExperienceLevel.DESCRIPTOR)
SEXES = enum_words(pg.Sex.DESCRIPTOR)
UNITS = enum_words(t.WeightUnit.DESCRIPTOR)
LIFTS = enum_words(t.MainLift.DESCRIPTOR)
EQUIPMENT = enum_words(t.Equipment.DESCRIPTOR)
AREAS = enum_words(t.BodyArea.DESCRIPTOR)
CATEGORIES = enum_words(t.FeedbackCategory.DESCRIPTOR)
FORMATS = {"json": pg.EXPORT_FORMAT_JSON, "csv": pg.EXPORT_FORMAT_STRONG_CSV}


class UsageError(Exception):
    """A command line the CLI itself refuses (exit 2)."""


class Output:
    """Where results go: tables for people, protobuf JSON with --json."""

    def __init__(self, as_json: bool, out: IO[str], err: IO[str]) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def message(self, message: Message, human: Callable[[], None]) -> None:
        if self.as_json:
            self.say(json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2))
        else:
            human()


# ---------------------------------------------------------------------------------------------
# Arguments


def _choice(words: dict[str, int], what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        key = text.strip().lower().replace("-", "_")
        if key not in words:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; one of: {', '.join(words)}")
        return words[key]

    parse.__name__ = what
    return parse


def _one_rep_max(text: str) -> pg.OneRepMax:
    lift, sep, weight = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LIFT=KG, e.g. squat=140, got {text!r}")
    try:
        kg = float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{weight!r} is not a weight in kg") from None
    return pg.OneRepMax(lift=_choice(LIFTS, "lift")(lift), weight_kg=kg, tested=True)  # type: ignore[arg-type]


def _iso_date(text: str) -> str:
    if not text:  # the default: the server's, or today
        return ""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-03-01, got {text!r}") from None


def _performed(text: str) -> tuple[str, int, float, float | None]:
    """`back_squat:5x100@8` -> exercise, reps, kg, RPE."""
    exercise, sep, rest = text.partition(":")
    rpe: float | None = None
    if "@" in rest:
        rest, _, rpe_text = rest.partition("@")
        rpe = _number(rpe_text, text)
    reps_text, x, kg_text = rest.lower().partition("x")
    if not sep or not exercise or not x:
        raise argparse.ArgumentTypeError(f"expected EXERCISE:REPSxKG[@RPE], e.g. back_squat:5x100@8, got {text!r}")
    return exercise, int(_number(reps_text, text)), _number(kg_text, text), rpe


def _number(text: str, whole: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} in {whole!r} is not a number") from None


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit code is 2 too; keep its message short
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ironpath", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--gateway",
        default=os.environ.get("IRONPATH_GATEWAY") or DEFAULT_GATEWAY,
        help="the gateway's host:port (default: $IRONPATH_GATEWAY or %(default)s)",
    )
    parser.add_argument("--tls", action="store_true", help="TLS to the gateway (a public deployment)")
    parser.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    login = commands.add_parser("login", help="sign in and keep the token")
    login.add_argument("--dev", metavar="NAME", nargs="?", const="developer", help="a development token (make token)")
    login.add_argument("--email", help="Supabase email (needs SUPABASE_URL and SUPABASE_ANON_KEY)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    commands.add_parser("logout", help="forget the stored token")
    commands.add_parser("whoami", help="the signed-in account")

    profile = commands.add_parser("profile", help="show or edit the lifter profile").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    profile.add_parser("show", help="the profile")
    edit = profile.add_parser("set", help="change only the fields given")
    edit.add_argument("--unit", type=_choice(UNITS, "unit"))
    edit.add_argument("--bodyweight", type=float, metavar="KG")
    edit.add_argument("--height", type=float, metavar="CM")
    edit.add_argument("--age", type=int, metavar="YEARS")
    edit.add_argument("--sex", type=_choice(SEXES, "sex"))
    edit.add_argument("--experience", type=_choice(EXPERIENCE, "experience level"))
    edit.add_argument("--training-age", type=float, metavar="YEARS")
    edit.add_argument("--max", type=_one_rep_max, action="append", metavar="LIFT=KG", help="a tested one-rep max")
    edit.add_argument("--equipment", type=_choice(EQUIPMENT, "equipment"), action="append")
    edit.add_argument("--limitation", type=_choice(AREAS, "body area"), action="append")
    edit.add_argument("--goal", type=_choice(GOALS, "goal"), action="append")

    commands.add_parser("methodologies", help="the methodologies programs are written from")

    program = commands.add_parser("program", help="generate, list and show programs").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    generate = program.add_parser("generate", help="write a program from your profile")
    generate.add_argument("--goal", type=_choice(GOALS, "goal"), required=True)
    generate.add_argument("--weeks", type=int, required=True)
    generate.add_argument("--days", type=int, required=True, help="training days per week")
    generate.add_argument("--methodology", default="", help="a methodology id (default: chosen for you)")
    generate.add_argument("--focus", action="append", default=[], help="a lift or muscle group for extra volume")
    generate.add_argument("--start-date", type=_iso_date, default="")
    generate.add_argument("--name", default="")
    listing = program.add_parser("list", help="your programs, newest first")
    listing.add_argument("--all", action="store_true", help="archived ones too")
    show = program.add_parser("show", help="a program as a table (default: the newest)")
    show.add_argument("program_id", nargs="?", default="")
    show.add_argument("--week", type=int, default=0, help="one week only")

    session = commands.add_parser("session", help="log a session").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    complete = session.add_parser("complete", help="mark a session completed, with its sets")
    _session_args(complete)
    complete.add_argument("--rpe", type=float, default=0.0, help="session RPE (1-10)")

    feedback = commands.add_parser("feedback", help="tell how a session went; the next ones adjust")
    _session_args(feedback)
    feedback.add_argument("--category", type=_choice(CATEGORIES, "category"), action="append", required=True)
    feedback.add_argument("--rpe", type=float, default=0.0, help="session RPE (1-10)")
    feedback.add_argument("--notes", default="")
    feedback.add_argument("--pain-area", type=_choice(AREAS, "body area"), default=0)

    readiness = commands.add_parser("readiness", help="how ready you are today (a score and what to do)")
    readiness.add_argument("--date", type=_iso_date, default="")
    readiness.add_argument("--sleep-hours", type=float, required=True)
    for name, low, high in (
        ("sleep-quality", "poor", "great"),
        ("stress", "none", "extreme"),
        ("soreness", "none", "extreme"),
        ("energy", "none", "great"),
        ("motivation", "none", "great"),
    ):
        readiness.add_argument(f"--{name}", type=int, required=True, help=f"1 ({low}) to 5 ({high})")
    readiness.add_argument("--program", default="", help="with --week and --day: adjust that session")
    readiness.add_argument("--week", type=int, default=0)
    readiness.add_argument("--day", type=int, default=0)

    checkin = commands.add_parser("checkin", help="adherence and RPE over a period, and what to do next")
    checkin.add_argument("--program", default="", help="default: the newest program")
    checkin.add_argument("--from", dest="start", type=_iso_date, default="", help="default: a week ago")
    checkin.add_argument("--to", dest="end", type=_iso_date, default="", help="default: today")

    export = commands.add_parser("export", help="everything you have, to a file")
    export.add_argument("file", type=Path)
    export.add_argument("--format", choices=sorted(FORMATS), default="json")
    return parser


def _session_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("week", type=int)
    parser.add_argument("day", type=int)
    parser.add_argument("--program", default="", help="default: the newest program")
    parser.add_argument(
        "--set",
        dest="sets",
        type=_performed,
        action="append",
        default=[],
        metavar="EXERCISE:REPSxKG[@RPE]",
        help="a set as lifted; repeat for each set",
    )
    parser.add_argument("--as-planned", action="store_true", help="every planned set, lifted as prescribed")


# ---------------------------------------------------------------------------------------------
# Commands


def _request_id() -> str:
    return str(uuid.uuid4())


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


def _newest_program(gateway: Gateway) -> str:
    answer = gateway.call("list programs", gateway.program.ListPrograms, pg.ListProgramsRequest(page_size=1))
    if not answer.programs:
        raise ApiError("no program yet: run `ironpath program generate`", NOT_FOUND)
    return answer.programs[0].program_id


def _program(gateway: Gateway, program_id: str) -> pg.Program:
    request = pg.GetProgramRequest(program_id=program_id or _newest_program(gateway), view=pg.PROGRAM_VIEW_FULL)
    return gateway.call("get the program", gateway.program.GetProgram, request).program


def _planned_session(program: pg.Program, week: int, day: int) -> t.PlannedSession:
    for program_week in program.program_weeks:
        for session in program_week.sessions:
            if session.week_number == week and session.day_number == day:
                return session
    raise UsageError(f"the program has no week {week} day {day} ({program.weeks} weeks x {program.days_per_week} days)")


def _performed_sets(args: argparse.Namespace, planned: t.PlannedSession) -> list[t.PerformedSet]:
    """The sets as lifted: the plan itself with --as-planned, else each --set against its planned set."""
    if args.as_planned:
        return [
            t.PerformedSet(
                exercise_id=exercise.exercise_id,
                set_number=s.set_number,
                target_reps=s.reps,
                target_load_kg=s.load_kg,
                target_rpe=s.rpe_target,
                actual_reps=s.reps,
                actual_load_kg=s.load_kg,
            )
            for exercise in planned.exercises
            for s in exercise.sets
        ]
    plan = {exercise.exercise_id: list(exercise.sets) for exercise in planned.exercises}
    counts: dict[str, int] = {}
    performed = []
    for exercise_id, reps, kg, rpe in args.sets:
        if exercise_id not in plan:
            raise UsageError(f"{exercise_id!r} is not in this session; planned: {', '.join(plan) or 'nothing'}")
        number = counts[exercise_id] = counts.get(exercise_id, 0) + 1
        target = plan[exercise_id][number - 1] if number <= len(plan[exercise_id]) else t.SetPrescription()
        lifted = t.PerformedSet(
            exercise_id=exercise_id,
            set_number=number,
            target_reps=target.reps,
            target_load_kg=target.load_kg,
            target_rpe=target.rpe_target,
            actual_reps=reps,
            actual_load_kg=kg,
        )
        if rpe is not None:
            lifted.actual_rpe = rpe
        performed.append(lifted)
    return performed


def cmd_login(args: argparse.Namespace, out: Output, stdin: IO[str]) -> int:
    supabase = creds.Supabase.from_env()
    if args.dev is not None or (supabase is None and not args.email):
        credentials = creds.development(args.dev or "developer")
    else:
        if supabase is None:
            raise UsageError("Supabase sign-in needs SUPABASE_URL and SUPABASE_ANON_KEY in the environment")
        email = args.email or input("email: ").strip()
        password = stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
        if not email or not password:
            raise UsageError("an email and a password are needed")
        credentials = supabase.sign_in(email, password)
    path = creds.save(credentials)
    expires = datetime.fromtimestamp(credentials.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.say(f"signed in as {credentials.email or 'unknown'} ({credentials.source} token, until {expires})")
    out.say(f"token kept in {path}")
    return OK


def cmd_logout(args: argparse.Namespace, out: Output) -> int:
    out.say("signed out" if creds.forget() else "was not signed in")
    return OK


def cmd_whoami(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    answer = gateway.call("get your account", gateway.program.GetMe, pg.GetMeRequest())
    out.message(answer, lambda: out.say(f"{answer.user.email}  (user id {answer.user.user_id})"))
    return OK


def _show_profile(out: Output, profile: pg.LifterProfile) -> None:
    unit = profile.unit or t.WEIGHT_UNIT_KG
    rows: list[tuple[str, object]] = [
        ("unit", enum_word(t.WeightUnit.DESCRIPTOR, profile.unit)),
        ("bodyweight", load(profile.bodyweight_kg, unit) if profile.bodyweight_kg else "-"),
        ("height", f"{profile.height_cm:g} cm" if profile.height_cm else "-"),
        ("age", profile.age_years or "-"),
        ("sex", enum_word(pg.Sex.DESCRIPTOR, profile.sex)),
        ("experience", enum_word(pg.ExperienceLevel.DESCRIPTOR, profile.experience_level)),
        ("training age", f"{profile.training_age_years:g} years" if profile.training_age_years else "-"),
        ("goals", ", ".join(enum_word(pg.TrainingGoal.DESCRIPTOR, g) for g in profile.goals) or "-"),
        ("equipment", ", ".join(enum_word(t.Equipment.DESCRIPTOR, e) for e in profile.equipment) or "-"),
        ("limitations", ", ".join(enum_word(t.BodyArea.DESCRIPTOR, a) for a in profile.limitations) or "-"),
    ]
    rows += [
        (f"1RM {enum_word(t.MainLift.DESCRIPTOR, m.lift)}", load(m.weight_kg, unit) + ("" if m.tested else " (est.)"))
        for m in profile.one_rep_maxes
    ]
    out.say(table(["field", "value"], rows))


def cmd_profile(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    if args.action == "show":
        answer = gateway.call("get your profile", gateway.program.GetProfile, pg.GetProfileRequest())
        out.message(answer, lambda: _show_profile(out, answer.profile))
        return OK
    profile = pg.LifterProfile()
    paths = []
    scalars = {
        "unit": "unit",
        "bodyweight": "bodyweight_kg",
        "height": "height_cm",
        "age": "age_years",
        "sex": "sex",
        "experience": "experience_level",
        "training_age": "training_age_years",
    }
    for arg, field in scalars.items():
        value = getattr(args, arg)
        if value is not None:
            setattr(profile, field, value)
            paths.append(field)
    for arg, field in (
        ("max", "one_rep_maxes"),
        ("equipment", "equipment"),
        ("limitation", "limitations"),
        ("goal", "goals"),
    ):
        values = getattr(args, arg)
        if values:
            getattr(profile, field).extend(values)
            paths.append(field)
    if not paths:
        raise UsageError("nothing to change: give at least one field, e.g. --bodyweight 82")
    etag = ""
    try:
        etag = gateway.call("get your profile", gateway.program.GetProfile, pg.GetProfileRequest()).profile.etag
    except ApiError as error:
        if error.exit_code != NOT_FOUND:
            raise
    request = pg.UpsertProfileRequest(request_id=_request_id(), profile=profile, etag=etag)
    request.update_mask.paths.extend(paths)
    answer = gateway.call("save your profile", gateway.program.UpsertProfile, request)
    out.message(answer, lambda: _show_profile(out, answer.profile))
    return OK


def cmd_methodologies(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    found: list[pg.Methodology] = []
    page = ""
    while True:
        request = pg.ListMethodologiesRequest(page_size=50, page_token=page)
        answer = gateway.call("list methodologies", gateway.program.ListMethodologies, request)
        found += answer.methodologies
        page = answer.next_page_token
        if not page:
            break
    everything = pg.ListMethodologiesResponse(methodologies=found)

    def human() -> None:
        rows = [
            (
                m.methodology_id,
                m.name,
                m.cycle_weeks,
                ", ".join(enum_word(pg.ExperienceLevel.DESCRIPTOR, e) for e in m.experience_levels),
                ", ".join(enum_word(pg.TrainingGoal.DESCRIPTOR, g) for g in m.goals),
            )
            for m in found
        ]
        out.say(table(["id", "name", "cycle weeks", "levels", "goals"], rows))

    out.message(everything, human)
    return OK


def _show_program(out: Output, program: pg.Program, week: int = 0) -> None:
    state = enum_word(pg.ProgramState.DESCRIPTOR, program.state)
    out.say(f"{program.name}  ({program.program_id})")
    out.say(
        f"{program.methodology_id}, {enum_word(pg.TrainingGoal.DESCRIPTOR, program.goal)}, "
        f"{program.weeks} weeks x {program.days_per_week} days, {state}"
        + (f", starts {program.start_date}" if program.start_date else "")
    )
    unit = program.display_unit or t.WEIGHT_UNIT_KG
    rows = []
    for program_week in program.program_weeks:
        if week and program_week.week_number != week:
            continue
        for session in program_week.sessions:
            for index, exercise in enumerate(session.exercises):
                first = index == 0
                rows.append(
                    (
                        session.week_number if first else "",
                        session.day_number if first else "",
                        (session.title + (" (deload)" if session.deload else "")) if first else "",
                        exercise.name,
                        sets_summary(exercise.sets),
                        loads_summary(exercise.sets, unit),
                        rpe_summary(exercise.sets),
                    )
                )
    out.say()
    out.say(table(["week", "day", "session", "exercise", "sets", "load", "RPE"], rows))


def cmd_program(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    if args.action == "generate":
        request = pg.GenerateProgramRequest(
            request_id=_request_id(),
            goal=args.goal,
            weeks=args.weeks,
            days_per_week=args.days,
            methodology_id=args.methodology,
            focus_areas=args.focus,
            start_date=args.start_date,
            name=args.name,
        )
        generated = gateway.call(
            "generate a program", gateway.program.GenerateProgram, request, timeout=GENERATE_TIMEOUT_SECONDS
        )
        out.message(generated, lambda: _show_program(out, generated.program))
        return OK
    if args.action == "list":
        listing = pg.ListProgramsRequest(page_size=100, include_archived=args.all)
        programs = gateway.call("list programs", gateway.program.ListPrograms, listing)

        def human() -> None:
            rows = [
                (
                    p.program_id,
                    p.name,
                    p.methodology_id,
                    f"{p.weeks}x{p.days_per_week}",
                    enum_word(pg.ProgramState.DESCRIPTOR, p.state),
                    p.start_date or "-",
                )
                for p in programs.programs
            ]
            out.say(table(["id", "name", "methodology", "weeks x days", "state", "start"], rows))

        out.message(programs, human)
        return OK
    program = _program(gateway, args.program_id)
    out.message(pg.GetProgramResponse(program=program), lambda: _show_program(out, program, args.week))
    return OK


def cmd_session(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    program = _program(gateway, args.program)
    planned = _planned_session(program, args.week, args.day)
    request = pr.MarkSessionCompleteRequest(
        request_id=_request_id(),
        session=t.SessionRef(program_id=program.program_id, week_number=args.week, day_number=args.day),
        complete_time=_now(),
        performed_sets=_performed_sets(args, planned),
        session_rpe=args.rpe,
    )
    answer = gateway.call("complete the session", gateway.progress.MarkSessionComplete, request)

    def human() -> None:
        log = answer.log
        out.say(
            f"week {log.week_number} day {log.day_number} ({log.title}): "
            f"{enum_word(pr.SessionStatus.DESCRIPTOR, log.status)}, {len(request.performed_sets)} sets logged"
        )

    out.message(answer, human)
    return OK


def cmd_feedback(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    program = _program(gateway, args.program)
    planned = _planned_session(program, args.week, args.day)
    request = fb.SubmitWorkoutFeedbackRequest(
        request_id=_request_id(),
        session=t.SessionRef(program_id=program.program_id, week_number=args.week, day_number=args.day),
        categories=args.category,
        pain_area=args.pain_area,
        notes=args.notes,
        session_rpe=args.rpe,
        complete_time=_now(),
        performed_sets=_performed_sets(args, planned) if (args.sets or args.as_planned) else [],
    )
    answer = gateway.call("submit feedback", gateway.feedback.SubmitWorkoutFeedback, request)

    def human() -> None:
        given = answer.feedback
        out.say(f"feedback recorded for week {given.session.week_number} day {given.session.day_number}")
        if given.adjustment_reason:
            out.say(given.adjustment_reason)
        rows = [
            (
                f"W{a.session.week_number}D{a.session.day_number}",
                a.exercise_id or "(session)",
                a.kind,
                _change(a),
                a.reason,
            )
            for a in given.adjustments
        ]
        if rows:
            out.say()
            out.say(table(["session", "exercise", "change", "by", "why"], rows))

    out.message(answer, human)
    return OK


def _change(adjustment: fb.Adjustment) -> str:
    if adjustment.kind == "load":
        return f"{adjustment.load_change_percent:+g} %"
    if adjustment.kind == "sets":
        return f"{adjustment.sets_change:+d} sets"
    if adjustment.kind == "rpe":
        return f"{adjustment.rpe_change:+g} RPE"
    if adjustment.kind == "substitution":
        return f"-> {adjustment.substitute_exercise_id}"
    return "-"


def cmd_readiness(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    request = fb.SubmitReadinessCheckRequest(
        request_id=_request_id(),
        date=args.date or date.today().isoformat(),
        sleep_hours=args.sleep_hours,
        sleep_quality=args.sleep_quality,
        stress=args.stress,
        soreness=args.soreness,
        energy=args.energy,
        motivation=args.motivation,
    )
    if args.week or args.day:
        if not (args.week and args.day):
            raise UsageError("--week and --day go together")
        request.session.CopyFrom(
            t.SessionRef(
                program_id=args.program or _newest_program(gateway), week_number=args.week, day_number=args.day
            )
        )
    answer = gateway.call("submit the readiness check", gateway.feedback.SubmitReadinessCheck, request)

    def human() -> None:
        check = answer.readiness_check
        advice = enum_word(fb.ReadinessRecommendation.DESCRIPTOR, check.recommendation).replace("_", " ")
        out.say(f"readiness {check.score}/100 on {check.date}: {advice}")
        if check.load_reduction_percent and check.recommendation != fb.READINESS_RECOMMENDATION_REST:
            out.say(f"loads {check.load_reduction_percent:g} % lighter")
        if check.reason:
            out.say(check.reason)

    out.message(answer, human)
    return OK


def cmd_checkin(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    request = fb.PerformCheckInRequest(
        request_id=_request_id(),
        program_id=args.program or _newest_program(gateway),
        period_start_date=args.start,
        period_end_date=args.end,
    )
    answer = gateway.call("check in", gateway.feedback.PerformCheckIn, request)

    def human() -> None:
        c = answer.check_in
        advice = enum_word(fb.CheckInRecommendation.DESCRIPTOR, c.recommendation)
        out.say(f"check-in {c.period_start_date} to {c.period_end_date}: {advice}")
        rows = [
            ("sessions planned", c.sessions_planned),
            ("completed", c.sessions_completed),
            ("skipped", c.sessions_skipped),
            ("adherence", f"{c.adherence_rate:.0%}"),
            ("average RPE", f"{c.average_rpe:.1f}" if c.average_rpe else "-"),
        ]
        out.say(table(["measure", "value"], rows))
        if c.reason:
            out.say(c.reason)

    out.message(answer, human)
    return OK


class ProgressBar:
    """Bytes received so far on stderr, redrawn in place on a terminal (the size of an export is not
    known until it ends, so the bar fills as a spinner with a running count)."""

    FRAMES = "|/-\\"

    def __init__(self, err: IO[str], label: str) -> None:
        self.err = err
        self.label = label
        self.live = err.isatty()
        self.received = 0
        self.chunks = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def add(self, size: int) -> None:
        self.received += size
        self.chunks += 1
        now = time.monotonic()
        if self.live and now - self._drawn > 0.1:
            self._drawn = now
            frame = self.FRAMES[self.chunks % len(self.FRAMES)]
            width = min(30, self.chunks)
            bar = "#" * width + frame
            self.err.write(f"\r{self.label} [{bar:<31}] {_size(self.received)}")
            self.err.flush()

    def done(self) -> None:
        seconds = time.monotonic() - self.started
        if self.live:
            self.err.write(f"\r{self.label} [{'#' * 31}] {_size(self.received)}\n")
        else:
            pieces = f"{self.chunks} piece{'' if self.chunks == 1 else 's'}"
            self.err.write(f"{self.label}: {_size(self.received)} in {pieces}, {seconds:.1f} s\n")
        self.err.flush()


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"


def cmd_export(gateway: Gateway, args: argparse.Namespace, out: Output) -> int:
    target: Path = args.file
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name")
    partial = target.with_name(target.name + ".part")
    bar = ProgressBar(out.err, "exporting")
    content_type = ""
    request = pg.ExportMyDataRequest(format=FORMATS[args.format])
    try:
        with partial.open("wb") as sink:
            for piece in gateway.stream("export your data", gateway.account.ExportMyData, request):
                content_type = content_type or piece.content_type
                sink.write(piece.data)
                bar.add(len(piece.data))
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    bar.done()
    summary = {"file": str(target), "bytes": bar.received, "content_type": content_type}
    out.say(json.dumps(summary) if out.as_json else f"saved {_size(bar.received)} to {target}")
    return OK


# ---------------------------------------------------------------------------------------------
# Entry point


GATEWAY_COMMANDS: dict[str, Callable[[Gateway, argparse.Namespace, Output], int]] = {
    "whoami": cmd_whoami,
    "profile": cmd_profile,
    "methodologies": cmd_methodologies,
    "program": cmd_program,
    "session": cmd_session,
    "feedback": cmd_feedback,
    "readiness": cmd_readiness,
    "checkin": cmd_checkin,
    "export": cmd_export,
}


def main(
    argv: Sequence[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
) -> int:
    out_stream, err_stream = stdout or sys.stdout, stderr or sys.stderr

    def fail(message: str, code: int) -> int:
        err_stream.write(f"ironpath: {message}\n")
        return code

    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:  # the message starts with the command's name
        err_stream.write(f"{error}\n(ironpath --help lists the commands)\n")
        return USAGE
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    out = Output(args.json, out_stream, err_stream)
    try:
        if args.command == "login":
            return cmd_login(args, out, stdin or sys.stdin)
        if args.command == "logout":
            return cmd_logout(args, out)
        gateway = Gateway(args.gateway, creds.current().access_token, tls=args.tls)
        try:
            return GATEWAY_COMMANDS[args.command](gateway, args, out)
        finally:
            gateway.close()
    except UsageError as error:
        return fail(str(error), USAGE)
    except creds.SignInError as error:
        return fail(str(error), AUTH)
    except ApiError as error:
        return fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except OSError as error:
        return fail(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), SERVER_ERROR)
    except Exception as error:  # never a traceback
        return fail(f"unexpected error: {type(error).__name__}: {error}", SERVER_ERROR)
