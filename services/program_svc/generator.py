"""The built-in program generator: pure arithmetic over the methodology's rules, no I/O.

Intensity is carried as a fraction of 1RM through every progression step; loads are rounded
down to loadable plates only when a set is written. RPE targets are read off the RTS chart
for the prescribed reps and intensity. The same profile and request give the same plan.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Any, NamedTuple

from ironpath_training import exercises
from ironpath_training.exercises import Exercise
from ironpath_training.loads import KG_PER_LB, loadable_kg
from ironpath_training.rpe import percent_of_1rm, rpe_for
from program_svc.domain import (
    GenerationRequest,
    Methodology,
    Plan,
    PlannedExercise,
    PlannedSession,
    PlannedSet,
    PlannedWeek,
    Profile,
)
from program_svc.methodologies import BY_ID, DEFAULT_CHOICE

LOWER_LIFTS = frozenset({"squat", "deadlift"})
LIFT_NAMES = {
    "squat": "Squat",
    "bench_press": "Bench Press",
    "deadlift": "Deadlift",
    "overhead_press": "Overhead Press",
}

# Main lifts per training day, by days per week: every lift at least once a week.
SPLITS: dict[int, list[list[str]]] = {
    2: [["squat", "bench_press"], ["deadlift", "overhead_press"]],
    3: [["squat", "bench_press"], ["deadlift", "overhead_press"], ["squat", "bench_press"]],
    4: [["squat", "bench_press"], ["deadlift", "overhead_press"]] * 2,
    5: [["squat", "bench_press"], ["deadlift", "overhead_press"]] * 2 + [["squat", "bench_press"]],
    6: [["squat", "bench_press"], ["deadlift", "overhead_press"]] * 3,
}
# 5/3/1 trains each lift's main sets once a week; extra days repeat lifts as supplemental work.
SPLITS_531: dict[int, list[list[str]]] = {
    2: [["squat", "bench_press"], ["deadlift", "overhead_press"]],
    3: [["squat", "bench_press"], ["deadlift"], ["overhead_press"]],
    4: [["overhead_press"], ["deadlift"], ["bench_press"], ["squat"]],
    5: [["overhead_press"], ["deadlift"], ["bench_press"], ["squat"], ["squat", "bench_press"]],
    6: [
        ["overhead_press"],
        ["deadlift"],
        ["bench_press"],
        ["squat"],
        ["squat", "bench_press"],
        ["deadlift", "overhead_press"],
    ],
}
# Calendar offsets of the training days within a week.
DAY_OFFSETS = {2: [0, 3], 3: [0, 2, 4], 4: [0, 1, 3, 4], 5: [0, 1, 2, 3, 4], 6: [0, 1, 2, 3, 4, 5]}
ACCESSORY_GROUPS = {
    "squat": ("hamstrings", "core"),
    "bench_press": ("back", "arms"),
    "deadlift": ("quads", "core"),
    "overhead_press": ("back", "shoulders"),
}
# Bodyweight multiples for a 1RM the lifter has not given, by experience.
ESTIMATED_1RM_RATIO = {
    "novice": {"squat": 1.0, "bench_press": 0.75, "deadlift": 1.25, "overhead_press": 0.5},
    "intermediate": {"squat": 1.5, "bench_press": 1.0, "deadlift": 1.75, "overhead_press": 0.65},
    "advanced": {"squat": 2.0, "bench_press": 1.35, "deadlift": 2.35, "overhead_press": 0.85},
}


class SetSpec(NamedTuple):
    """One set before loads exist: intensity as a fraction of the exercise's 1RM."""

    percent: float
    reps: int
    amrap: bool = False


class _MainLift(NamedTuple):
    """What every exposure of a main lift shares: the exercise that trains it, the 1RM its loads
    are written from (None: the lifter picks loads by RPE) and the notes that go with it."""

    lift: str
    exercise: Exercise
    exercise_max: float | None
    notes: str
    substituted_for: str


class _Day(NamedTuple):
    """A day of the split, written once: weeks differ only in the main lifts' sets and whether the
    accessories are the deload ones."""

    lifts: list[str]
    # The lifts trained that day, in order (without a safe variation, or with an exercise already
    # trained that day, the accessories carry the lift).
    trained: tuple[_MainLift, ...]
    title: str
    offset: timedelta  # from the start of the week
    accessories: tuple[PlannedExercise, ...]
    deload_accessories: tuple[PlannedExercise, ...]


def choose_methodology(profile: Profile, request: GenerationRequest) -> Methodology:
    if request.methodology_id:
        return BY_ID[request.methodology_id]
    return BY_ID[DEFAULT_CHOICE[(profile.experience_level, request.goal)]]


def generate(profile: Profile, request: GenerationRequest) -> Plan:
    methodology = choose_methodology(profile, request)
    return _Writer(profile, request, methodology).plan()


def working_one_rep_max(profile: Profile, lift: str) -> float | None:
    """The 1RM a lift's loads are written from: the lifter's own, else an estimate from bodyweight
    and experience; None without either. Every engine's loads come from this one number."""
    known = profile.one_rep_max(lift)
    if known is not None:
        return known
    if profile.bodyweight_kg <= 0:
        return None
    return profile.bodyweight_kg * ESTIMATED_1RM_RATIO[profile.experience_level][lift]


class _Writer:
    def __init__(self, profile: Profile, request: GenerationRequest, methodology: Methodology) -> None:
        self.profile = profile
        self.request = request
        self.methodology = methodology
        self.rules: dict[str, Any] = methodology.rules
        self.kind = str(self.rules["kind"])
        self.equipment = profile.available_equipment()
        self.limitations = frozenset(profile.limitations) | frozenset(request.limitations)
        self.focus = set(request.focus_areas)
        self.one_rm = {lift: working_one_rep_max(profile, lift) for lift in LIFT_NAMES}
        self.main = {lift: self._main_lift(lift) for lift in LIFT_NAMES}
        self.split = (SPLITS_531 if self.kind == "531" else SPLITS)[request.days_per_week]
        self.days = [
            self._day(lifts, timedelta(days=offset))
            for lifts, offset in zip(self.split, DAY_OFFSETS[request.days_per_week], strict=True)
        ]
        self.block_phases = _block_schedule(self.rules["blocks"], request.weeks) if self.kind == "block" else []
        self._lp_percent: dict[str, float] = {}
        # Exercises and sets repeat across a program (same scheme, same load): work each out once,
        # and each set's intensity, load and RPE target once however many sets share them.
        self._main_exercises: dict[tuple[str, tuple[SetSpec, ...], int], PlannedExercise] = {}
        self._intensities: dict[tuple[SetSpec, float | None], tuple[float, float, float]] = {}
        self._tm_percent: dict[tuple[str, int], float] = {}

    # -- the program -------------------------------------------------------------------

    def plan(self) -> Plan:
        weeks = []
        start = self.request.start_date
        for week in range(1, self.request.weeks + 1):
            phase, deload = self._phase(week)
            week_start = None if start is None else start + timedelta(weeks=week - 1)
            sessions = []
            exposures_this_week = dict.fromkeys(LIFT_NAMES, 0)
            for number, day in enumerate(self.days, start=1):
                # Every lift's sets are written, trained or not: progressions count each exposure.
                specs: dict[str, tuple[SetSpec, ...]] = {}
                for lift in day.lifts:
                    specs[lift] = self._specs(lift, week, exposures_this_week[lift], deload)
                    exposures_this_week[lift] += 1
                sessions.append(self._session(week, number, day, specs, deload, week_start))
            weeks.append(PlannedWeek(week, phase, deload, tuple(sessions)))
        return Plan(self.methodology.methodology_id, tuple(weeks))

    def _phase(self, week: int) -> tuple[str, bool]:
        if self.kind == "531":
            spec = self.rules["weeks"][(week - 1) % 4]
            return spec["phase"], spec["deload"]
        if self.kind == "dup":
            deload = (week - 1) % self.rules["wave_weeks"] == self.rules["wave_weeks"] - 1
            return ("deload" if deload else f"wave week {(week - 1) % self.rules['wave_weeks'] + 1}"), deload
        if self.kind == "block":
            block, _ = self.block_phases[week - 1]
            return block["phase"], block["phase"] == "deload"
        if self.kind == "rpe":
            wave = self.rules["waves"][(week - 1) % len(self.rules["waves"])]
            return wave["phase"], wave["deload"]
        return "linear progression", False

    def _day(self, lifts: list[str], offset: timedelta) -> _Day:
        trained: list[_MainLift] = []
        used: set[str] = set()
        for lift in lifts:
            main = self.main[lift]
            if main is None or main.exercise.exercise_id in used:
                continue  # no safe variation for this lifter: the accessories carry the day
            used.add(main.exercise.exercise_id)
            trained.append(main)
        chosen = self._accessories(lifts, used)
        if not trained and not chosen:
            # Nothing else suits this lifter today: trunk work needs no equipment and loads no joint.
            chosen = [(exercises.CATALOGUE["dead_bug"], False)]
        first = len(trained) + 1
        return _Day(
            lifts,
            tuple(trained),
            " & ".join(LIFT_NAMES[lift] for lift in lifts),
            offset,
            tuple(self._accessory(c, order, deload=False) for order, c in enumerate(chosen, start=first)),
            tuple(self._accessory(c, order, deload=True) for order, c in enumerate(chosen, start=first)),
        )

    def _session(
        self,
        week: int,
        number: int,
        day: _Day,
        specs: dict[str, tuple[SetSpec, ...]],
        deload: bool,
        week_start: date | None,
    ) -> PlannedSession:
        mains = [self._main_exercise(main, specs[main.lift], order) for order, main in enumerate(day.trained, start=1)]
        planned = (*mains, *(day.deload_accessories if deload else day.accessories))
        title = f"{day.title} (deload)" if deload else day.title
        planned_date = None if week_start is None else week_start + day.offset
        return PlannedSession(week, number, title, planned_date, deload, planned)

    # -- main lifts --------------------------------------------------------------------

    def _specs(self, lift: str, week: int, exposure: int, deload: bool) -> tuple[SetSpec, ...]:
        if self.kind == "linear":
            specs = self._linear(lift)
        elif self.kind == "531":
            specs = self._wendler(lift, week, exposure)
        elif self.kind == "dup":
            specs = self._undulating(week, exposure, self._weekly_exposures(lift))
        elif self.kind == "block":
            block, week_in_block = self.block_phases[week - 1]
            percent = block["percent"] + block["weekly_increment"] * week_in_block
            specs = [SetSpec(percent, block["reps"])] * block["sets"]
        else:
            specs = self._autoregulated(week)
        if lift in self.focus and not deload:
            straight = [s for s in specs if not s.amrap] or specs
            specs = [*specs, SetSpec(straight[-1].percent, straight[-1].reps)]
        return tuple(specs)

    def _linear(self, lift: str) -> list[SetSpec]:
        rules = self.rules
        one_rm = self.one_rm[lift]
        percent = self._lp_percent.get(lift)
        if percent is None:
            percent = rules["start_percent"]
        elif one_rm:
            increment = self._increment(rules, lift) / one_rm
            percent += increment
            if percent > rules["cap_percent"]:
                percent = (percent - increment) * rules["reset_factor"]
        self._lp_percent[lift] = percent
        sets = rules["deadlift_sets"] if lift == "deadlift" else rules["sets"]
        return [SetSpec(percent, rules["reps"])] * sets

    def _wendler(self, lift: str, week: int, exposure: int) -> list[SetSpec]:
        rules = self.rules
        cycle, week_in_cycle = divmod(week - 1, 4)
        tm = self._training_max(lift, cycle)
        spec = rules["weeks"][week_in_cycle]
        main = [SetSpec(tm * pct, reps, amrap) for pct, reps, amrap in spec["sets"]]
        if spec["deload"]:
            return main
        supplemental = rules["supplemental"]
        first_set = [SetSpec(main[0].percent, supplemental["reps"])] * supplemental["sets"]
        return [*main, *first_set] if exposure == 0 else first_set

    def _training_max(self, lift: str, cycle: int) -> float:
        """Training max as a fraction of today's 1RM in a cycle: +increment a cycle, back to 90 %
        when the heaviest set would pass the 1RM (Wendler's reset)."""
        rules = self.rules
        base = rules["training_max_percent"]
        key = (lift, cycle)
        if key in self._tm_percent:
            return self._tm_percent[key]
        if cycle == 0:
            tm = base
        else:
            tm = self._training_max(lift, cycle - 1)
            one_rm = self.one_rm[lift]
            if one_rm:
                tm += (
                    self._increment(
                        {"increment_kg": rules["cycle_increment_kg"], "increment_lb": rules["cycle_increment_lb"]}, lift
                    )
                    / one_rm
                )
            heaviest = max(pct for week in rules["weeks"] for pct, _, _ in week["sets"])
            if tm * heaviest > 1.0:
                tm = base
        self._tm_percent[key] = tm
        return tm

    def _undulating(self, week: int, exposure: int, weekly_exposures: int) -> list[SetSpec]:
        rules = self.rules
        rotation = rules["rotation"]
        day_type = rotation[exposure % len(rotation)] if weekly_exposures > 1 else rotation[(week - 1) % len(rotation)]
        scheme = rules["day_types"][day_type]
        position = (week - 1) % rules["wave_weeks"]
        if position == rules["wave_weeks"] - 1:
            percent = scheme["percent"] * rules["deload"]["percent_factor"]
            sets = max(2, round(scheme["sets"] * rules["deload"]["sets_factor"]))
        else:
            percent = scheme["percent"] + rules["weekly_increment"] * position
            sets = scheme["sets"]
        return [SetSpec(percent, scheme["reps"])] * sets

    def _autoregulated(self, week: int) -> list[SetSpec]:
        wave = self.rules["waves"][(week - 1) % len(self.rules["waves"])]
        top = percent_of_1rm(wave["reps"], wave["top_rpe"])
        backoff = top * (1 - self.rules["backoff_drop"])
        return [SetSpec(top, wave["reps"]), *[SetSpec(backoff, wave["reps"])] * wave["backoff_sets"]]

    def _weekly_exposures(self, lift: str) -> int:
        return sum(lift in day for day in self.split)

    def _increment(self, rules: dict[str, Any], lift: str) -> float:
        side = "lower" if lift in LOWER_LIFTS else "upper"
        if self.profile.unit == "lb":
            return float(rules["increment_lb"][side]) * KG_PER_LB
        return float(rules["increment_kg"][side])

    def _main_lift(self, lift: str) -> _MainLift | None:
        exercise = exercises.choose(exercises.MAIN_EXERCISE[lift], self.equipment, self.limitations)
        if exercise is None:
            return None
        one_rm = self.one_rm[lift]
        exercise_max = one_rm * exercise.load_factor if one_rm and exercise.load_factor else None
        original = exercises.CATALOGUE[exercises.MAIN_EXERCISE[lift]]
        notes = []
        substituted = ""
        if exercise is not original:
            substituted = original.exercise_id
            notes.append(exercises.substitution_reason(original, exercise, self.equipment, self.limitations))
        if exercise_max is None:
            notes.append("Choose the load that matches the target RPE.")
        elif self.profile.one_rep_max(lift) is None:
            notes.append(f"Loads from an estimated 1RM of {one_rm:.0f} kg; let the target RPE correct them.")
        return _MainLift(lift, exercise, exercise_max, " ".join(notes), substituted)

    def _main_exercise(self, main: _MainLift, specs: tuple[SetSpec, ...], order: int) -> PlannedExercise:
        key = (main.lift, specs, order)
        planned = self._main_exercises.get(key)
        if planned is None:
            heavy = any(spec.reps <= 5 for spec in specs)
            planned = PlannedExercise(
                main.exercise.exercise_id,
                main.exercise.name,
                main.lift,
                order,
                self._sets(specs, main.exercise_max),
                main.notes,
                main.substituted_for,
                180 if heavy else 120,
            )
            self._main_exercises[key] = planned
        return planned

    def _sets(self, specs: tuple[SetSpec, ...], exercise_max: float | None) -> tuple[PlannedSet, ...]:
        sets = []
        for number, spec in enumerate(specs, start=1):
            key = (spec, exercise_max)
            intensity = self._intensities.get(key)
            if intensity is None:
                intensity = self._intensity(spec, exercise_max)
                self._intensities[key] = intensity
            percent, load_kg, rpe = intensity
            sets.append(PlannedSet(number, spec.reps, percent, load_kg, rpe, spec.amrap))
        return tuple(sets)

    def _intensity(self, spec: SetSpec, exercise_max: float | None) -> tuple[float, float, float]:
        """A set's %1RM, load and RPE target: 0 % and no load when the lifter picks it by RPE."""
        exact = min(spec.percent, 1.0)
        # The intensity shown is what the RPE target must agree with; the load uses the exact one.
        percent = round(exact, 4)
        rpe = rpe_for(spec.reps, percent)
        if exercise_max is None:
            return 0.0, 0.0, rpe
        # The only rounding of a load: down to what the lifter's plates make.
        return percent, loadable_kg(exercise_max * exact, self.profile.unit), rpe

    # -- accessories -------------------------------------------------------------------

    def _accessories(self, lifts: list[str], used: set[str]) -> list[tuple[Exercise, bool]]:
        groups = [g for g in self.request.focus_areas if g in exercises.ACCESSORIES]
        for lift in lifts:
            groups += [g for g in ACCESSORY_GROUPS[lift] if g not in groups]
        chosen: list[tuple[Exercise, bool]] = []
        for group in groups:
            if len(chosen) == self.rules["accessories"]["per_session"]:
                break
            exercise = exercises.choose_accessory(group, self.equipment, self.limitations)
            if exercise is None or exercise.exercise_id in used:
                continue
            used.add(exercise.exercise_id)
            chosen.append((exercise, group in self.focus))
        return chosen

    def _accessory(self, chosen: tuple[Exercise, bool], order: int, deload: bool) -> PlannedExercise:
        exercise, focused = chosen
        rules = self.rules["accessories"]
        hypertrophy = self.request.goal == "hypertrophy"
        sets = rules["hypertrophy_sets"] if hypertrophy else rules["sets"]
        reps = rules["hypertrophy_reps"] if hypertrophy else rules["reps"]
        rpe = rules["rpe"]
        if deload:
            sets, rpe = 2, 6.0
        elif focused:
            sets += 1
        prescribed = _accessory_sets(sets, reps, rpe)
        note = "Extra set: a focus area." if focused and not deload else ""
        return PlannedExercise(exercise.exercise_id, exercise.name, None, order, prescribed, note, "", 90)


def _block_schedule(blocks: list[dict[str, Any]], total_weeks: int) -> list[tuple[dict[str, Any], int]]:
    """(block, week within block) for every week. Whole cycles repeat; a program shorter than a
    cycle keeps every block in order, each shortened in proportion (the deload only from 5 weeks)."""
    cycle = sum(b["weeks"] for b in blocks)
    schedule: list[tuple[dict[str, Any], int]] = []
    while total_weeks - len(schedule) >= cycle:
        schedule += [(b, i) for b in blocks for i in range(b["weeks"])]
    remaining = total_weeks - len(schedule)
    if remaining:
        used = blocks if remaining >= 5 else [b for b in blocks if b["phase"] != "deload"]
        training = [b for b in used if b["phase"] != "deload"]
        spare = remaining - (len(used) - len(training))
        lengths = _proportional([b["weeks"] for b in training], spare)
        for block, length in zip(training, lengths, strict=True):
            schedule += [(block, i) for i in range(length)]
        schedule += [(b, 0) for b in used if b["phase"] == "deload"]
    return schedule


def _proportional(weights: list[int], total: int) -> list[int]:
    """Splits `total` weeks over blocks by weight, largest remainders first, earlier blocks first
    when there are fewer weeks than blocks."""
    if total < len(weights):
        return [1 if i < total else 0 for i in range(len(weights))]
    scale = total / sum(weights)
    lengths = [max(1, int(w * scale)) for w in weights]
    while sum(lengths) < total:
        gaps = [w * scale - n for w, n in zip(weights, lengths, strict=True)]
        lengths[gaps.index(max(gaps))] += 1
    while sum(lengths) > total:
        lengths[lengths.index(max(lengths))] -= 1
    return lengths


@functools.lru_cache(maxsize=64)
def _accessory_sets(sets: int, reps: int, rpe: float) -> tuple[PlannedSet, ...]:
    return tuple(PlannedSet(n, reps, 0.0, 0.0, rpe) for n in range(1, sets + 1))
