import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { PlannedSessionSchema, ProgramWeekSchema } from "../../src/gen/ironpath/common/v1/training_pb";
import { SessionLogSchema, SessionStatus } from "../../src/gen/ironpath/progress/v1/progress_pb";
import { completionByWeek, mergeLog, nextSession, shownLogs, totalsOf } from "../../src/overlay";
import type { QueuedAction } from "../../src/queue";
import { plateLoad, fromUnit } from "../../src/units";

const P = "0b9d8f6e-2f43-4a53-9d51-0b8a1f1c2d3e";
const weeks = [1, 2].map((w) =>
  create(ProgramWeekSchema, {
    weekNumber: w,
    sessions: [1, 2].map((d) => create(PlannedSessionSchema, { weekNumber: w, dayNumber: d, title: `W${w}D${d}` })),
  }),
);
const log = (w: number, d: number, status: SessionStatus) =>
  create(SessionLogSchema, { programId: P, weekNumber: w, dayNumber: d, status, etag: "1" });
const queued = (kind: QueuedAction["kind"], w: number, d: number): QueuedAction => ({
  requestId: crypto.randomUUID(),
  userId: "u",
  kind,
  payload: { programId: P, week: w, day: d },
  createdAt: "2025-01-01T10:00:00.000Z",
  attempts: 0,
});

describe("what the screen shows", () => {
  it("shows a queued completion at once, marked as waiting", () => {
    const logs = [log(1, 1, SessionStatus.COMPLETED), log(1, 2, SessionStatus.PLANNED)];
    const shown = shownLogs(P, weeks, logs, [queued("completeSession", 1, 2)]);
    expect(shown.map((s) => [s.week, s.day, s.status, s.waiting])).toEqual([
      [1, 1, SessionStatus.COMPLETED, false],
      [1, 2, SessionStatus.COMPLETED, true],
      [2, 1, SessionStatus.PLANNED, false],
      [2, 2, SessionStatus.PLANNED, false],
    ]);
    expect(totalsOf(shown).completedSessions).toBe(2);
    expect(completionByWeek(shown)).toEqual([
      { week: 1, planned: 2, completed: 2, skipped: 0 },
      { week: 2, planned: 2, completed: 0, skipped: 0 },
    ]);
    expect(nextSession(shown)).toMatchObject({ week: 2, day: 1 });
  });

  it("never lets a queued skip undo a completion", () => {
    const shown = shownLogs(P, weeks, [log(1, 1, SessionStatus.COMPLETED)], [queued("skipSession", 1, 1)]);
    expect(shown[0].status).toBe(SessionStatus.COMPLETED);
  });

  it("ignores another program's queued actions", () => {
    const other = { ...queued("completeSession", 1, 1), payload: { programId: "x", week: 1, day: 1 } };
    expect(shownLogs(P, weeks, [], [other])[0].status).toBe(SessionStatus.PLANNED);
  });

  it("merges a live summary log without losing the full view's prescription", () => {
    const full = create(SessionLogSchema, {
      ...log(1, 1, SessionStatus.PLANNED),
      prescription: create(PlannedSessionSchema, { title: "adjusted" }),
      prescriptionAdjusted: true,
    });
    const live = create(SessionLogSchema, {
      ...log(1, 1, SessionStatus.COMPLETED),
      etag: "2",
      completeTime: timestampFromDate(new Date("2025-01-01T10:00:00Z")),
    });
    const [merged] = mergeLog([full], live);
    expect(merged.status).toBe(SessionStatus.COMPLETED);
    expect(merged.etag).toBe("2");
    expect(merged.prescription?.title).toBe("adjusted");
    expect(merged.prescriptionAdjusted).toBe(true);
  });
});

describe("loads", () => {
  it("shows whole plates in the lifter's unit", () => {
    expect(plateLoad(102.5, "kg")).toBe("102.5 kg");
    expect(plateLoad(fromUnit(225, "lb"), "lb")).toBe("225 lb");
    expect(plateLoad(fromUnit(135, "lb") + 0.01, "lb")).toBe("135 lb");
    expect(plateLoad(0, "kg")).toBe("bodyweight");
  });
});
