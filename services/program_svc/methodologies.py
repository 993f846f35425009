"""The methodology library as data. A migration seeds these rows; the built-in generator reads
the same rules, so what a lifter reads about a methodology is what their program follows.

Intensities are fractions of the lifter's 1RM (of the training max for 5/3/1)."""

from __future__ import annotations

from program_svc.domain import Methodology

ACCESSORY_RULES = {"sets": 3, "reps": 10, "rpe": 8.0, "hypertrophy_sets": 4, "hypertrophy_reps": 12, "per_session": 3}

LIBRARY: tuple[Methodology, ...] = (
    Methodology(
        methodology_id="linear_progression",
        name="Linear Progression",
        description=(
            "Three sets of five on the main lifts, adding weight every time a lift is trained. The fastest way "
            "for a new lifter to get strong; it runs until progress stalls."
        ),
        suits="Novices in their first year of barbell training, for strength or general fitness.",
        experience_levels=("novice",),
        goals=("strength", "general", "hypertrophy"),
        cycle_weeks=1,
        deload_rule=(
            "No planned deload weeks. When a lift's next load would pass 90 % of its 1RM, that lift resets "
            "to 90 % of that load and climbs again."
        ),
        rules={
            "kind": "linear",
            "sets": 3,
            "reps": 5,
            "deadlift_sets": 1,
            "start_percent": 0.75,
            "increment_kg": {"lower": 5.0, "upper": 2.5},
            "increment_lb": {"lower": 10.0, "upper": 5.0},
            "cap_percent": 0.9,
            "reset_factor": 0.9,
            "deload_every_weeks": 0,
            "accessories": ACCESSORY_RULES,
        },
    ),
    Methodology(
        methodology_id="wendler_531",
        name="Wendler 5/3/1",
        description=(
            "Four-week waves from a training max of 90 % of 1RM: 5s, 3s, 5/3/1 and a deload, the last set of "
            "each lift as many reps as possible, then five sets of five at the first set's weight."
        ),
        suits="Intermediate lifters who want steady strength for years with little guesswork.",
        experience_levels=("intermediate", "advanced"),
        goals=("strength", "general"),
        cycle_weeks=4,
        deload_rule="Every fourth week: 40/50/60 % of the training max for five reps, no AMRAP, no supplemental work.",
        rules={
            "kind": "531",
            "training_max_percent": 0.9,
            "weeks": [
                {"phase": "5s week", "deload": False, "sets": [[0.65, 5, False], [0.75, 5, False], [0.85, 5, True]]},
                {"phase": "3s week", "deload": False, "sets": [[0.70, 3, False], [0.80, 3, False], [0.90, 3, True]]},
                {"phase": "5/3/1 week", "deload": False, "sets": [[0.75, 5, False], [0.85, 3, False], [0.95, 1, True]]},
                {"phase": "deload", "deload": True, "sets": [[0.40, 5, False], [0.50, 5, False], [0.60, 5, False]]},
            ],
            "supplemental": {"name": "first set last", "sets": 5, "reps": 5},
            "cycle_increment_kg": {"lower": 5.0, "upper": 2.5},
            "cycle_increment_lb": {"lower": 10.0, "upper": 5.0},
            "reset": "when the heaviest set would pass the 1RM, the training max returns to 90 % of 1RM",
            "accessories": ACCESSORY_RULES,
        },
    ),
    Methodology(
        methodology_id="daily_undulating",
        name="Daily Undulating Periodization",
        description=(
            "Each exposure of a lift changes the stimulus: hypertrophy (4x8), strength (5x5) and power (6x3), "
            "rising 2.5 % a week through a four-week wave."
        ),
        suits="Intermediate and advanced lifters after muscle and strength together, training a lift 2-3 times a week.",
        experience_levels=("intermediate", "advanced"),
        goals=("hypertrophy", "general", "strength"),
        cycle_weeks=4,
        deload_rule="Every fourth week: intensity down 10 % and 40 % fewer sets.",
        rules={
            "kind": "dup",
            "day_types": {
                "hypertrophy": {"sets": 4, "reps": 8, "percent": 0.70},
                "strength": {"sets": 5, "reps": 5, "percent": 0.775},
                "power": {"sets": 6, "reps": 3, "percent": 0.85},
            },
            "rotation": ["hypertrophy", "strength", "power"],
            "weekly_increment": 0.025,
            "wave_weeks": 4,
            "deload": {"percent_factor": 0.9, "sets_factor": 0.6},
            "accessories": ACCESSORY_RULES,
        },
    ),
    Methodology(
        methodology_id="block_periodization",
        name="Block Periodization",
        description=(
            "Blocks in sequence: accumulation (volume at moderate loads), intensification (heavier, fewer reps) and "
            "realization (heavy doubles to peak), then a deload. Shorter programs shorten every block."
        ),
        suits="Advanced lifters and anyone peaking for a meet or a test day.",
        experience_levels=("intermediate", "advanced"),
        goals=("peaking", "strength"),
        cycle_weeks=10,
        deload_rule="One deload week after each realization block (3x5 at 60 %).",
        rules={
            "kind": "block",
            "blocks": [
                {"phase": "accumulation", "weeks": 4, "sets": 5, "reps": 8, "percent": 0.65, "weekly_increment": 0.025},
                {
                    "phase": "intensification",
                    "weeks": 3,
                    "sets": 4,
                    "reps": 4,
                    "percent": 0.78,
                    "weekly_increment": 0.03,
                },
                {"phase": "realization", "weeks": 2, "sets": 3, "reps": 2, "percent": 0.88, "weekly_increment": 0.04},
                {"phase": "deload", "weeks": 1, "sets": 3, "reps": 5, "percent": 0.60, "weekly_increment": 0.0},
            ],
            "accessories": ACCESSORY_RULES,
        },
    ),
    Methodology(
        methodology_id="rpe_autoregulation",
        name="RPE Autoregulation",
        description=(
            "A top set at a target RPE, then back-off sets 5 % lighter. Loads start from the RTS chart and the "
            "lifter adjusts them to how the bar moves that day."
        ),
        suits="Experienced lifters who rate effort reliably and want training to follow their day-to-day readiness.",
        experience_levels=("intermediate", "advanced"),
        goals=("general", "strength", "hypertrophy"),
        cycle_weeks=4,
        deload_rule="Every fourth week: top set at RPE 6, one back-off set.",
        rules={
            "kind": "rpe",
            "waves": [
                {"phase": "volume", "reps": 5, "top_rpe": 7.0, "backoff_sets": 3, "deload": False},
                {"phase": "load", "reps": 4, "top_rpe": 8.0, "backoff_sets": 3, "deload": False},
                {"phase": "intensity", "reps": 3, "top_rpe": 9.0, "backoff_sets": 2, "deload": False},
                {"phase": "deload", "reps": 5, "top_rpe": 6.0, "backoff_sets": 1, "deload": True},
            ],
            "backoff_drop": 0.05,
            "accessories": ACCESSORY_RULES,
        },
    ),
)

BY_ID = {m.methodology_id: m for m in LIBRARY}

# Which methodology fits a lifter who names none, by experience and goal.
DEFAULT_CHOICE = {
    ("novice", "strength"): "linear_progression",
    ("novice", "general"): "linear_progression",
    ("novice", "hypertrophy"): "linear_progression",
    ("novice", "peaking"): "block_periodization",
    ("intermediate", "strength"): "wendler_531",
    ("intermediate", "general"): "daily_undulating",
    ("intermediate", "hypertrophy"): "daily_undulating",
    ("intermediate", "peaking"): "block_periodization",
    ("advanced", "strength"): "block_periodization",
    ("advanced", "general"): "rpe_autoregulation",
    ("advanced", "hypertrophy"): "daily_undulating",
    ("advanced", "peaking"): "block_periodization",
}
