// What the screen shows = the server's last answer + the actions still waiting in the queue.
// Pure functions, so the rules are easy to read and to test.

import { create } from "@bufbuild/protobuf";
import type { FeedbackPayload, SessionKey } from "./actions";
import type { PlannedSession, ProgramWeek } from "./gen/ironpath/common/v1/training_pb";
import {
  ProgressTotalsSchema,
  SessionStatus,
  type ProgressTotals,
  type SessionLog,
} from "./gen/ironpath/progress/v1/progress_pb";
import type { QueuedAction } from "./queue";

export interface ShownLog {
  week: number;
  day: number;
  title: string;
  status: SessionStatus;
  /** A queued action (not yet on the server) decides the status shown. */
  waiting: boolean;
  completeTime: string;
  log: SessionLog | null;
}

function sameSession(a: SessionKey, programId: string, week: number, day: number): boolean {
  return a.programId === programId && a.week === week && a.day === day;
}

function timeOf(log: SessionLog): string {
  const t = log.completeTime;
  return t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)).toISOString() : "";
}

/** Every session of the program (from the plan, so nothing is missing before the logs load),
 * with its status from the logs and the queue. */
export function shownLogs(
  programId: string,
  weeks: ProgramWeek[],
  logs: SessionLog[],
  pending: QueuedAction[],
): ShownLog[] {
  const byKey = new Map(logs.map((l) => [`${l.weekNumber}/${l.dayNumber}`, l]));
  const shown: ShownLog[] = [];
  const sessions: PlannedSession[] = weeks.flatMap((w) => w.sessions);
  const keys = sessions.length
    ? sessions.map((s) => ({ week: s.weekNumber, day: s.dayNumber, title: s.title }))
    : logs.map((l) => ({ week: l.weekNumber, day: l.dayNumber, title: l.title }));
  for (const { week, day, title } of keys) {
    const log = byKey.get(`${week}/${day}`) ?? null;
    let status = log?.status ?? SessionStatus.PLANNED;
    let completeTime = log ? timeOf(log) : "";
    let waiting = false;
    for (const action of pending) {
      const p = action.payload as SessionKey;
      if (!p || !sameSession(p, programId, week, day)) continue;
      if (action.kind === "completeSession" || action.kind === "submitFeedback") {
        if (status !== SessionStatus.COMPLETED) {
          status = SessionStatus.COMPLETED;
          completeTime =
            action.kind === "submitFeedback" ? (p as FeedbackPayload).completeTime : action.createdAt;
          waiting = true;
        }
      } else if (action.kind === "skipSession" && status !== SessionStatus.COMPLETED) {
        status = SessionStatus.SKIPPED;
        waiting = true;
      }
    }
    shown.push({ week, day, title: log?.title || title, status, waiting, completeTime, log });
  }
  return shown;
}

export function totalsOf(shown: ShownLog[]): ProgressTotals {
  const planned = shown.length;
  const completed = shown.filter((s) => s.status === SessionStatus.COMPLETED).length;
  const skipped = shown.filter((s) => s.status === SessionStatus.SKIPPED).length;
  return create(ProgressTotalsSchema, {
    plannedSessions: planned,
    completedSessions: completed,
    skippedSessions: skipped,
    completionRate: planned ? completed / planned : 0,
  });
}

export interface WeekCompletion {
  week: number;
  planned: number;
  completed: number;
  skipped: number;
}

export function completionByWeek(shown: ShownLog[]): WeekCompletion[] {
  const weeks = new Map<number, WeekCompletion>();
  for (const s of shown) {
    const w = weeks.get(s.week) ?? { week: s.week, planned: 0, completed: 0, skipped: 0 };
    w.planned += 1;
    if (s.status === SessionStatus.COMPLETED) w.completed += 1;
    if (s.status === SessionStatus.SKIPPED) w.skipped += 1;
    weeks.set(s.week, w);
  }
  return [...weeks.values()].sort((a, b) => a.week - b.week);
}

/** The session to train next: the first neither completed nor skipped. */
export function nextSession(shown: ShownLog[]): ShownLog | null {
  return (
    shown.find((s) => s.status !== SessionStatus.COMPLETED && s.status !== SessionStatus.SKIPPED) ?? null
  );
}

/** Merges a log from the live stream (summary view plus feedback) into the full logs we hold. */
export function mergeLog(logs: SessionLog[], incoming: SessionLog): SessionLog[] {
  const index = logs.findIndex(
    (l) => l.weekNumber === incoming.weekNumber && l.dayNumber === incoming.dayNumber,
  );
  if (index < 0) return [...logs, incoming].sort((a, b) => a.weekNumber - b.weekNumber || a.dayNumber - b.dayNumber);
  const current = logs[index];
  const merged: SessionLog = {
    ...current,
    title: incoming.title || current.title,
    plannedDate: incoming.plannedDate || current.plannedDate,
    status: incoming.status,
    scheduledDate: incoming.scheduledDate,
    completeTime: incoming.completeTime ?? current.completeTime,
    skipReason: incoming.skipReason,
    etag: incoming.etag,
    updateTime: incoming.updateTime ?? current.updateTime,
    sessionRpe: incoming.sessionRpe || current.sessionRpe,
    feedback: incoming.feedback ?? current.feedback,
    // Full-view fields: only when the incoming log carries them.
    prescription: incoming.prescription ?? current.prescription,
    prescriptionAdjusted: incoming.prescription ? incoming.prescriptionAdjusted : current.prescriptionAdjusted,
    performedSets: incoming.performedSets.length ? incoming.performedSets : current.performedSets,
  };
  const next = [...logs];
  next[index] = merged;
  return next;
}

/** Completions waiting in the queue for one program (for the "waiting to sync" count per screen). */
export function waitingFor(pending: QueuedAction[], programId: string): QueuedAction[] {
  return pending.filter((a) => (a.payload as Partial<SessionKey> | null)?.programId === programId);
}
