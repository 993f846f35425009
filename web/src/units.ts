// Loads arrive in kilograms (`*_kg`). A lifter who trains in pounds had their loads rounded to
// 5 lb plates before conversion, so converting back and rounding gives whole plate loads.

export type Unit = "kg" | "lb";

export const KG_PER_LB = 0.45359237;

/** Smallest step a plate-loaded bar can make in each unit. */
export const PLATE_STEP: Record<Unit, number> = { kg: 2.5, lb: 5 };

export function toUnit(kg: number, unit: Unit): number {
  return unit === "kg" ? kg : kg / KG_PER_LB;
}

export function fromUnit(value: number, unit: Unit): number {
  return unit === "kg" ? value : value * KG_PER_LB;
}

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
}

/** A prescribed load in whole plates of the lifter's unit ("102.5 kg", "225 lb"); "bodyweight" for 0. */
export function plateLoad(kg: number, unit: Unit): string {
  if (!kg) return "bodyweight";
  const step = PLATE_STEP[unit];
  return `${trim(Math.round(toUnit(kg, unit) / step) * step)} ${unit}`;
}

/** A number for a load input, in the lifter's unit, to the nearest plate step. */
export function plateValue(kg: number, unit: Unit): number {
  const step = PLATE_STEP[unit];
  return Math.round(toUnit(kg, unit) / step) * step;
}

/** A logged or measured weight (bodyweight, an e1RM), to a tenth of the unit. */
export function weight(kg: number, unit: Unit): string {
  return `${trim(Math.round(toUnit(kg, unit) * 10) / 10)} ${unit}`;
}

export function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}
