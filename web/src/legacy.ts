// Progress the old browser app kept in local storage (its Zustand `persist` state). If this
// browser still has it, the lifter is offered, once, to import it into a program with
// ImportLegacyProgress; the server decides what it accepts (docs/import.md) and says why for the rest.

/** The old app's persist keys (Zustand writes `{"state": {...}, "version": n}` under its store name). */
export const LEGACY_KEYS = ["ironpath-storage", "ironpath-store", "ironpath"];
const OFFERED_KEY = "ironpath.legacyOffered";

export interface LegacyState {
  key: string;
  /** The stored JSON, sent as it is. */
  json: string;
  completedCount: number;
}

/** Items that look like completed sessions, for the offer's wording only. */
function countCompleted(value: unknown): number {
  if (!value || typeof value !== "object") return 0;
  const state = (value as { state?: unknown }).state ?? value;
  const completed = (state as { completedSessions?: unknown }).completedSessions;
  return Array.isArray(completed) ? completed.length : 0;
}

export function findLegacyState(userId: string, storage: Storage = localStorage): LegacyState | null {
  if (storage.getItem(`${OFFERED_KEY}.${userId}`)) return null;
  for (const key of LEGACY_KEYS) {
    const json = storage.getItem(key);
    if (!json) continue;
    try {
      const parsed: unknown = JSON.parse(json);
      return { key, json, completedCount: countCompleted(parsed) };
    } catch {
      continue;
    }
  }
  return null;
}

export function markLegacyOffered(userId: string, storage: Storage = localStorage): void {
  storage.setItem(`${OFFERED_KEY}.${userId}`, new Date().toISOString());
}
