"""The exercise catalogue and safe substitutions.

Each exercise names the equipment it needs and the body areas it loads. A limitation rules
out every exercise that loads the area; missing equipment rules out what needs it. The
alternatives of an exercise are tried in order, so the closest safe variation wins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    exercise_id: str
    name: str
    equipment: frozenset[str]
    loads_areas: frozenset[str]
    muscle_groups: tuple[str, ...]
    # The main lift whose 1RM sets this exercise's load, and the fraction of it that matches
    # the same effort (0: the lifter picks the load by RPE).
    main_lift: str | None = None
    load_factor: float = 0.0
    note: str = ""


def _ex(
    exercise_id: str,
    name: str,
    equipment: str,
    areas: str,
    groups: str,
    lift: str | None = None,
    factor: float = 0.0,
    note: str = "",
) -> Exercise:
    return Exercise(
        exercise_id,
        name,
        frozenset(equipment.split()),
        frozenset(areas.split()),
        tuple(groups.split()),
        lift,
        factor,
        note,
    )


CATALOGUE: dict[str, Exercise] = {
    e.exercise_id: e
    for e in (
        # Squat pattern.
        _ex("back_squat", "Back Squat", "barbell squat_rack", "knee hip lower_back", "quads glutes", "squat", 1.0),
        _ex(
            "box_squat",
            "Box Squat (above parallel)",
            "barbell squat_rack",
            "hip lower_back",
            "quads glutes",
            "squat",
            0.85,
            "Sit back to a box at or above parallel: no deep knee bend under load.",
        ),
        _ex("front_squat", "Front Squat", "barbell squat_rack", "knee wrist", "quads", "squat", 0.8),
        _ex("leg_press", "Leg Press", "machines", "knee", "quads glutes"),
        _ex("goblet_squat", "Goblet Squat", "dumbbells", "knee", "quads glutes"),
        _ex("kettlebell_goblet_squat", "Kettlebell Goblet Squat", "kettlebells", "knee", "quads glutes"),
        _ex("split_squat", "Dumbbell Split Squat", "dumbbells", "knee", "quads glutes"),
        _ex("hip_thrust", "Barbell Hip Thrust", "barbell bench", "hip", "glutes hamstrings"),
        _ex("glute_bridge", "Glute Bridge", "", "hip", "glutes"),
        # Bench pattern.
        _ex("bench_press", "Bench Press", "barbell bench", "shoulder elbow wrist", "chest arms", "bench_press", 1.0),
        _ex(
            "floor_press",
            "Floor Press",
            "barbell",
            "elbow wrist",
            "chest arms",
            "bench_press",
            0.9,
            "The floor stops the elbows short of the painful bottom range.",
        ),
        _ex(
            "close_grip_bench_press",
            "Close-Grip Bench Press",
            "barbell bench",
            "shoulder elbow wrist",
            "arms chest",
            "bench_press",
            0.9,
        ),
        _ex("dumbbell_bench_press", "Dumbbell Bench Press", "dumbbells bench", "shoulder elbow wrist", "chest arms"),
        _ex("dumbbell_floor_press", "Neutral-Grip Dumbbell Floor Press", "dumbbells", "elbow", "chest arms"),
        _ex("machine_chest_press", "Machine Chest Press", "machines", "shoulder elbow", "chest arms"),
        _ex("push_up", "Push-Up", "", "shoulder elbow wrist", "chest arms"),
        # Hinge pattern.
        _ex("deadlift", "Deadlift", "barbell", "lower_back hip", "hamstrings glutes back", "deadlift", 1.0),
        _ex(
            "romanian_deadlift", "Romanian Deadlift", "barbell", "lower_back hip", "hamstrings glutes", "deadlift", 0.7
        ),
        _ex(
            "dumbbell_romanian_deadlift",
            "Dumbbell Romanian Deadlift",
            "dumbbells",
            "lower_back hip",
            "hamstrings glutes",
        ),
        _ex("kettlebell_swing", "Kettlebell Swing", "kettlebells", "lower_back hip", "hamstrings glutes"),
        _ex("leg_curl", "Leg Curl", "machines", "knee", "hamstrings"),
        _ex("back_extension", "Back Extension", "machines", "lower_back", "hamstrings back"),
        # Overhead pattern.
        _ex(
            "overhead_press",
            "Overhead Press",
            "barbell",
            "shoulder elbow wrist lower_back",
            "shoulders arms",
            "overhead_press",
            1.0,
        ),
        _ex(
            "landmine_press",
            "Landmine Press",
            "barbell",
            "elbow wrist",
            "shoulders chest",
            "overhead_press",
            0.0,
            "The angled path spares a painful shoulder the overhead position.",
        ),
        _ex(
            "dumbbell_shoulder_press", "Dumbbell Shoulder Press", "dumbbells", "shoulder elbow wrist", "shoulders arms"
        ),
        _ex("machine_shoulder_press", "Machine Shoulder Press", "machines", "shoulder elbow", "shoulders arms"),
        _ex("pike_push_up", "Pike Push-Up", "", "shoulder wrist", "shoulders arms"),
        # Accessories.
        _ex("barbell_row", "Barbell Row", "barbell", "lower_back elbow", "back arms"),
        _ex("dumbbell_row", "One-Arm Dumbbell Row", "dumbbells", "elbow", "back arms"),
        _ex("lat_pulldown", "Lat Pulldown", "cable", "shoulder elbow", "back arms"),
        _ex("pull_up", "Pull-Up", "pull_up_bar", "shoulder elbow", "back arms"),
        _ex("band_row", "Band Row", "bands", "", "back"),
        _ex("inverted_row", "Inverted Row (table or bar)", "", "elbow", "back arms"),
        _ex("face_pull", "Face Pull", "cable", "", "shoulders back"),
        _ex("band_pull_apart", "Band Pull-Apart", "bands", "", "shoulders back"),
        _ex("lateral_raise", "Dumbbell Lateral Raise", "dumbbells", "shoulder", "shoulders"),
        _ex("dumbbell_curl", "Dumbbell Curl", "dumbbells", "elbow wrist", "arms"),
        _ex("triceps_pushdown", "Triceps Pushdown", "cable", "elbow", "arms"),
        _ex("leg_extension", "Leg Extension", "machines", "knee", "quads"),
        _ex("walking_lunge", "Walking Lunge", "", "knee", "quads glutes"),
        _ex("plank", "Plank", "", "", "core"),
        _ex("dead_bug", "Dead Bug", "", "", "core"),
        _ex("hanging_leg_raise", "Hanging Leg Raise", "pull_up_bar", "shoulder", "core"),
        _ex("calf_raise", "Standing Calf Raise", "", "ankle", "quads"),
    )
}

ALL_EQUIPMENT = frozenset().union(*(e.equipment for e in CATALOGUE.values()))

# The main lift exercise of each lift, and what may stand in for it, closest first.
MAIN_EXERCISE = {
    "squat": "back_squat",
    "bench_press": "bench_press",
    "deadlift": "deadlift",
    "overhead_press": "overhead_press",
}
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "back_squat": (
        "box_squat",
        "front_squat",
        "leg_press",
        "goblet_squat",
        "kettlebell_goblet_squat",
        "split_squat",
        "hip_thrust",
        "glute_bridge",
    ),
    "bench_press": (
        "close_grip_bench_press",
        "floor_press",
        "dumbbell_bench_press",
        "machine_chest_press",
        "dumbbell_floor_press",
        "push_up",
    ),
    "deadlift": (
        "romanian_deadlift",
        "dumbbell_romanian_deadlift",
        "kettlebell_swing",
        "hip_thrust",
        "leg_curl",
        "glute_bridge",
    ),
    "overhead_press": (
        "dumbbell_shoulder_press",
        "machine_shoulder_press",
        "landmine_press",
        "pike_push_up",
    ),
}

# Assistance work by muscle group, closest first.
ACCESSORIES: dict[str, tuple[str, ...]] = {
    "back": ("barbell_row", "dumbbell_row", "lat_pulldown", "pull_up", "band_row", "inverted_row"),
    "hamstrings": ("romanian_deadlift", "dumbbell_romanian_deadlift", "leg_curl", "kettlebell_swing", "glute_bridge"),
    "quads": ("split_squat", "leg_press", "leg_extension", "walking_lunge", "goblet_squat", "calf_raise"),
    "glutes": ("hip_thrust", "glute_bridge"),
    "chest": ("dumbbell_bench_press", "machine_chest_press", "push_up", "dumbbell_floor_press"),
    "shoulders": ("face_pull", "band_pull_apart", "lateral_raise"),
    "arms": ("dumbbell_curl", "triceps_pushdown"),
    "core": ("plank", "dead_bug", "hanging_leg_raise"),
}


def allowed(exercise: Exercise, equipment: frozenset[str], limitations: frozenset[str]) -> bool:
    return exercise.equipment <= equipment and not (exercise.loads_areas & limitations)


def choose(exercise_id: str, equipment: frozenset[str], limitations: frozenset[str]) -> Exercise | None:
    """The exercise itself when it suits the lifter, else its closest safe alternative."""
    for candidate in (exercise_id, *ALTERNATIVES.get(exercise_id, ())):
        exercise = CATALOGUE[candidate]
        if allowed(exercise, equipment, limitations):
            return exercise
    return None


def choose_accessory(group: str, equipment: frozenset[str], limitations: frozenset[str]) -> Exercise | None:
    for candidate in ACCESSORIES[group]:
        exercise = CATALOGUE[candidate]
        if allowed(exercise, equipment, limitations):
            return exercise
    return None


def substitution_reason(
    original: Exercise, chosen: Exercise, equipment: frozenset[str], limitations: frozenset[str]
) -> str:
    reasons = []
    painful = sorted(original.loads_areas & limitations)
    if painful:
        reasons.append(f"spares the {', '.join(a.replace('_', ' ') for a in painful)}")
    missing = sorted(original.equipment - equipment)
    if missing:
        reasons.append(f"no {' or '.join(m.replace('_', ' ') for m in missing)} available")
    note = f"{chosen.name} instead of {original.name}: {' and '.join(reasons)}."
    return f"{note} {chosen.note}".strip()
