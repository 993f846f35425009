"""Loads a lifter can put on a bar: rounded down to the unit's plate step, only at the end."""

from __future__ import annotations

import math

KG_PER_LB = 0.45359237
KG_STEP = 2.5
LB_STEP = 5.0
KG_BAR = 20.0
LB_BAR = 45.0


def loadable_kg(load_kg: float, unit: str) -> float:
    """Rounds down to a multiple of 2.5 kg, or of 5 lb for a lifter who trains in pounds (then
    converted back to kilograms, so the lifter's own unit shows whole plate loads)."""
    if load_kg <= 0:
        return 0.0
    if unit == "lb":
        pounds = math.floor(load_kg / KG_PER_LB / LB_STEP + 1e-9) * LB_STEP
        return pounds * KG_PER_LB
    return math.floor(load_kg / KG_STEP + 1e-9) * KG_STEP


def is_loadable(load_kg: float, unit: str) -> bool:
    if load_kg == 0:
        return True
    steps = load_kg / KG_PER_LB / LB_STEP if unit == "lb" else load_kg / KG_STEP
    return abs(steps - round(steps)) < 1e-6


def to_unit(load_kg: float, unit: str) -> float:
    return load_kg / KG_PER_LB if unit == "lb" else load_kg


def bar_kg(unit: str) -> float:
    return LB_BAR * KG_PER_LB if unit == "lb" else KG_BAR
