import { useEffect, useMemo, useRef } from "react";
import type { ExercisePrescription, PlannedSession, SetPrescription } from "../gen/ironpath/common/v1/training_pb";
import { TrainingGoal } from "../gen/ironpath/program/v1/program_pb";
import { SessionStatus } from "../gen/ironpath/progress/v1/progress_pb";
import { shownLogs, totalsOf, nextSession, type ShownLog } from "../overlay";
import { app, useApp } from "../store";
import { percent, plateLoad, type Unit } from "../units";
import { Badge, enumLabel, Screen, unitOf, words } from "./common";

export function setLine(set: SetPrescription, unit: Unit): string {
  const reps = set.amrap ? `${set.reps}+` : `${set.reps}`;
  // No load: bodyweight, or a weight chosen by feel to hit the RPE target.
  const parts = [set.loadKg ? `${reps} × ${plateLoad(set.loadKg, unit)}` : `${reps} reps`];
  if (set.rpeTarget) parts.push(`RPE ${set.rpeTarget}`);
  if (set.percent1rm) parts.push(percent(set.percent1rm));
  return parts.join(" · ");
}

export function ExerciseList({ session, unit }: { session: PlannedSession; unit: Unit }) {
  return (
    <ol className="exercises">
      {session.exercises.map((ex: ExercisePrescription) => (
        <li key={`${ex.order}-${ex.exerciseId}`}>
          <strong>{ex.name}</strong>
          {ex.substitutedForExerciseId && <Badge tone="warn">replaces {words(ex.substitutedForExerciseId)}</Badge>}
          <ul className="sets">
            {ex.sets.map((set) => (
              <li key={set.setNumber}>
                <span className="setno">Set {set.setNumber}</span> {setLine(set, unit)}
              </li>
            ))}
          </ul>
          {ex.notes && <p className="hint">{ex.notes}</p>}
        </li>
      ))}
    </ol>
  );
}

export function StatusBadge({ shown }: { shown: ShownLog }) {
  const sync = shown.waiting ? " (waiting to sync)" : "";
  if (shown.status === SessionStatus.COMPLETED) return <Badge tone="ok">Completed{sync}</Badge>;
  if (shown.status === SessionStatus.SKIPPED) return <Badge tone="muted">Skipped{sync}</Badge>;
  if (shown.status === SessionStatus.SCHEDULED) return <Badge>Scheduled</Badge>;
  return <Badge tone="muted">Planned</Badge>;
}

let firstProgramRender = true;

export function ProgramScreen({ programId }: { programId: string }) {
  const s = useApp();
  useEffect(() => {
    if (programId) void app.openProgram(programId);
  }, [programId]);
  const program = s.programId === programId ? s.program : null;
  const unit = unitOf(program?.displayUnit);
  const shown = useMemo(
    () => (program ? shownLogs(programId, program.programWeeks, s.progress?.logs ?? [], s.pending) : []),
    [program, programId, s.progress, s.pending],
  );
  const byKey = new Map(shown.map((x) => [`${x.week}/${x.day}`, x]));
  const next = nextSession(shown);
  const totals = totalsOf(shown);
  const rendered = useRef(false);

  useEffect(() => {
    if (program && !rendered.current) {
      rendered.current = true;
      if (firstProgramRender) {
        firstProgramRender = false;
        performance.mark("ironpath:program-rendered");
      }
    }
  }, [program]);

  if (s.programId === programId && s.programStatus === "notFound") {
    return (
      <Screen title="Program not found">
        <p data-testid="not-found">There is no program at this address that you can see.</p>
        <p>
          <a href="#/generate">Generate a program</a>
        </p>
      </Screen>
    );
  }
  if (!program) {
    return (
      <Screen title="Program">
        <p className="empty">{s.programStatus === "error" ? "Can't load this program right now." : "Loading the program…"}</p>
      </Screen>
    );
  }

  const adjusted = new Map(
    (s.progress?.logs ?? []).filter((l) => l.prescriptionAdjusted && l.prescription).map((l) => [`${l.weekNumber}/${l.dayNumber}`, l.prescription!]),
  );

  return (
    <Screen
      title={program.name}
      actions={
        <a className="button secondary" href="#/generate">
          New program
        </a>
      }
    >
      <p className="meta" data-testid="program-meta">
        {enumLabel(TrainingGoal, program.goal)} · {program.weeks} weeks × {program.daysPerWeek} days
        {program.startDate && ` · from ${program.startDate}`} · loads in {unit}
      </p>
      <p className="meta">
        {totals.completedSessions} of {totals.plannedSessions} sessions done ({Math.round(totals.completionRate * 100)}%)
        {next && (
          <>
            {" · "}
            <a href={`#/train/${programId}/${next.week}/${next.day}`}>
              Next: week {next.week}, day {next.day}
            </a>
          </>
        )}
      </p>
      {program.programWeeks.map((week) => (
        <section key={week.weekNumber} className={`week${week.deload ? " deload" : ""}`} aria-labelledby={`week-${week.weekNumber}`}>
          <h2 id={`week-${week.weekNumber}`}>
            Week {week.weekNumber}
            {week.phase && <span className="phase"> · {words(week.phase)}</span>}
            {week.deload && !/deload/i.test(week.phase) && <Badge tone="warn">Deload</Badge>}
            {week.deload && /deload/i.test(week.phase) && <span className="sr-only"> (deload week)</span>}
          </h2>
          {week.sessions.map((session) => {
            const key = `${session.weekNumber}/${session.dayNumber}`;
            const status = byKey.get(key);
            const effective = adjusted.get(key) ?? session;
            const isNext = next?.week === session.weekNumber && next?.day === session.dayNumber;
            return (
              <details key={key} className="session" open={isNext} data-session={key}>
                <summary>
                  <span className="title">
                    Day {session.dayNumber}: {session.title}
                  </span>
                  {session.plannedDate && <span className="date">{session.plannedDate}</span>}
                  {status && <StatusBadge shown={status} />}
                  {adjusted.has(key) && <Badge tone="warn">Adjusted</Badge>}
                </summary>
                <ExerciseList session={effective} unit={unit} />
                <a className="button" href={`#/train/${programId}/${session.weekNumber}/${session.dayNumber}`}>
                  Train this session
                </a>
              </details>
            );
          })}
        </section>
      ))}
    </Screen>
  );
}
