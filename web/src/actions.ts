// What each queued action sends. Payloads are plain JSON (they sit in IndexedDB, maybe across a
// reload and a browser restart); the request is built when it is sent, with the action's own
// request_id and the time the lifter did it.

import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { SessionRefSchema, PerformedSetSchema } from "./gen/ironpath/common/v1/training_pb";
import { LifterProfileSchema } from "./gen/ironpath/program/v1/program_pb";
import type { Clients } from "./rpc";
import type { QueuedAction } from "./queue";

export interface SessionKey {
  programId: string;
  week: number;
  day: number;
}

export interface PlainSet {
  exerciseId: string;
  setNumber: number;
  targetReps: number;
  targetLoadKg: number;
  targetRpe: number;
  actualReps: number;
  actualLoadKg: number;
  /** Absent when the lifter reported none. */
  actualRpe?: number;
}

export interface CompletePayload extends SessionKey {
  performedSets: PlainSet[];
  sessionRpe: number;
}

export interface SkipPayload extends SessionKey {
  reason: string;
}

export interface FeedbackPayload extends SessionKey {
  categories: number[];
  painArea: number;
  notes: string;
  sessionRpe: number;
  performedSets: PlainSet[];
  unavailableEquipment: number[];
  /** When the session was completed (the completion's own time). */
  completeTime: string;
}

export interface ReadinessPayload {
  date: string;
  sleepHours: number;
  sleepQuality: number;
  stress: number;
  soreness: number;
  energy: number;
  motivation: number;
  session?: SessionKey;
}

export interface CheckInPayload {
  programId: string;
  periodStartDate: string;
  periodEndDate: string;
}

export interface ProfilePayload {
  /** The profile as protobuf JSON. */
  profile: JsonValue;
  /** The etag as last read; empty to create. */
  etag: string;
}

export interface GeneratePayload {
  goal: number;
  weeks: number;
  daysPerWeek: number;
  methodologyId: string;
  focusAreas: string[];
  startDate: string;
  name: string;
}

export interface ImportPayload {
  programId: string;
  legacyStateJson: string;
}

export interface DeletePayload {
  confirmation: string;
}

export function sessionRef(key: SessionKey) {
  return create(SessionRefSchema, { programId: key.programId, weekNumber: key.week, dayNumber: key.day });
}

export function performedSets(sets: PlainSet[]) {
  return sets.map((s) => create(PerformedSetSchema, { ...s, actualRpe: s.actualRpe ?? undefined }));
}

export function sessionKeyString(key: SessionKey): string {
  return `${key.programId}/${key.week}/${key.day}`;
}

const LONG_CALL_MS = 60_000;
const CALL_MS = 15_000;

/** Sends one queued action and returns the server's answer. */
export function sendAction(clients: Clients, action: QueuedAction): Promise<unknown> {
  const requestId = action.requestId;
  const at = timestampFromDate(new Date(action.createdAt));
  const options = { timeoutMs: CALL_MS };
  switch (action.kind) {
    case "completeSession": {
      const p = action.payload as CompletePayload;
      return clients.progress.markSessionComplete(
        {
          requestId,
          session: sessionRef(p),
          completeTime: at,
          performedSets: performedSets(p.performedSets),
          sessionRpe: p.sessionRpe,
        },
        options,
      );
    }
    case "skipSession": {
      const p = action.payload as SkipPayload;
      return clients.progress.skipSession(
        { requestId, session: sessionRef(p), skipReason: p.reason, skipTime: at },
        options,
      );
    }
    case "submitFeedback": {
      const p = action.payload as FeedbackPayload;
      return clients.feedback.submitWorkoutFeedback(
        {
          requestId,
          session: sessionRef(p),
          categories: p.categories,
          painArea: p.painArea,
          notes: p.notes,
          sessionRpe: p.sessionRpe,
          completeTime: timestampFromDate(new Date(p.completeTime)),
          performedSets: performedSets(p.performedSets),
          unavailableEquipment: p.unavailableEquipment,
        },
        options,
      );
    }
    case "submitReadiness": {
      const p = action.payload as ReadinessPayload;
      return clients.feedback.submitReadinessCheck(
        {
          requestId,
          date: p.date,
          sleepHours: p.sleepHours,
          sleepQuality: p.sleepQuality,
          stress: p.stress,
          soreness: p.soreness,
          energy: p.energy,
          motivation: p.motivation,
          session: p.session ? sessionRef(p.session) : undefined,
        },
        options,
      );
    }
    case "performCheckIn": {
      const p = action.payload as CheckInPayload;
      return clients.feedback.performCheckIn(
        {
          requestId,
          programId: p.programId,
          periodStartDate: p.periodStartDate,
          periodEndDate: p.periodEndDate,
        },
        options,
      );
    }
    case "upsertProfile": {
      const p = action.payload as ProfilePayload;
      return clients.program.upsertProfile(
        { requestId, profile: fromJson(LifterProfileSchema, p.profile), etag: p.etag },
        options,
      );
    }
    case "generateProgram": {
      const p = action.payload as GeneratePayload;
      return clients.program.generateProgram({ requestId, ...p }, { timeoutMs: LONG_CALL_MS });
    }
    case "importLegacy": {
      const p = action.payload as ImportPayload;
      return clients.progress.importLegacyProgress(
        { requestId, programId: p.programId, legacyStateJson: p.legacyStateJson },
        { timeoutMs: LONG_CALL_MS },
      );
    }
    case "deleteAccount": {
      const p = action.payload as DeletePayload;
      return clients.account.deleteMyAccount(
        { requestId, confirmation: p.confirmation },
        { timeoutMs: LONG_CALL_MS },
      );
    }
  }
}
