"""Plain-text tables and the words for enum values."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.descriptor import EnumDescriptor

from ironpath.common.v1 import training_pb2 as t

KG_PER_LB = 0.45359237


def enum_words(enum: EnumDescriptor) -> dict[str, int]:
    """`TRAINING_GOAL_STRENGTH` -> `strength`, for every value but UNSPECIFIED."""
    prefix = _prefix(enum)
    return {v.name.removeprefix(prefix).lower(): v.number for v in enum.values if v.number != 0}


def enum_word(enum: EnumDescriptor, number: int) -> str:
    value = enum.values_by_number.get(number)
    if value is None or number == 0:
        return "-"
    return value.name.removeprefix(_prefix(enum)).lower()


def _prefix(enum: EnumDescriptor) -> str:
    return next(v.name for v in enum.values if v.number == 0).removesuffix("UNSPECIFIED")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns as wide as their widest cell; numbers right-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def load(kg: float, unit: int) -> str:
    """A load in the lifter's unit; 0 is bodyweight."""
    if kg <= 0:
        return "bw"
    if unit == t.WEIGHT_UNIT_LB:
        return f"{round(kg / KG_PER_LB, 1):g} lb"
    return f"{round(kg, 2):g} kg"


def sets_summary(sets: Sequence[t.SetPrescription]) -> str:
    """`3x5`, `3x5+` (last set AMRAP), or `5/3/1+` when the reps differ."""
    if not sets:
        return "-"
    reps = [f"{s.reps}{'+' if s.amrap else ''}" for s in sets]
    if len(set(reps)) == 1:
        return f"{len(sets)}x{reps[0]}"
    if len({s.reps for s in sets}) == 1:
        return f"{len(sets)}x{sets[0].reps} ({'/'.join(reps)})"
    return "/".join(reps)


def loads_summary(sets: Sequence[t.SetPrescription], unit: int) -> str:
    seen: list[str] = []
    for s in sets:
        text = load(s.load_kg, unit)
        if text not in seen:
            seen.append(text)
    if len(seen) > 1 and all(text.endswith((" kg", " lb")) for text in seen):
        suffix = seen[0][-3:]
        return "/".join(text[:-3] for text in seen) + suffix
    return "/".join(seen) or "-"


def rpe_summary(sets: Sequence[t.SetPrescription]) -> str:
    values = sorted({s.rpe_target for s in sets if s.rpe_target})
    if not values:
        return "-"
    return f"{values[0]:g}" if len(values) == 1 else f"{values[0]:g}-{values[-1]:g}"
