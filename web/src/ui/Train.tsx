import { useEffect, useMemo, useState, type FormEvent } from "react";
import { sessionKeyString, type CompletePayload, type FeedbackPayload, type PlainSet, type SessionKey } from "../actions";
import { BodyArea, Equipment, FeedbackCategory, type PlannedSession } from "../gen/ironpath/common/v1/training_pb";
import { ReadinessRecommendation, type Adjustment } from "../gen/ironpath/feedback/v1/feedback_pb";
import { SessionStatus } from "../gen/ironpath/progress/v1/progress_pb";
import { nextSession, shownLogs, type ShownLog } from "../overlay";
import { app, useApp } from "../store";
import { fromUnit, plateLoad, plateValue, type Unit } from "../units";
import { Badge, daysAgo, enumLabel, enumOptions, Field, formatTime, parseRoute, Screen, today, unitOf, words } from "./common";
import { ExerciseList, setLine, StatusBadge } from "./ProgramView";

interface SetEntry {
  done: boolean;
  reps: string;
  load: string;
  rpe: string;
}

type Draft = Record<string, SetEntry>;

function draftKey(user: string, key: SessionKey): string {
  return `ironpath.draft.${user}.${sessionKeyString(key)}`;
}

function loadDraft(user: string, key: SessionKey): Draft {
  try {
    return JSON.parse(localStorage.getItem(draftKey(user, key)) ?? "{}") as Draft;
  } catch {
    return {};
  }
}

function entryFor(draft: Draft, exerciseId: string, setNumber: number, planned: { reps: number; loadKg: number; rpeTarget: number }, unit: Unit): SetEntry {
  return (
    draft[`${exerciseId}#${setNumber}`] ?? {
      done: false,
      reps: String(planned.reps),
      load: planned.loadKg ? String(plateValue(planned.loadKg, unit)) : "0",
      rpe: "",
    }
  );
}

/** The sets marked done, as the server takes them: planned beside actual, loads in kg. */
function performedSets(session: PlannedSession, draft: Draft, unit: Unit): PlainSet[] {
  const sets: PlainSet[] = [];
  for (const ex of session.exercises) {
    for (const set of ex.sets) {
      const entry = entryFor(draft, ex.exerciseId, set.setNumber, set, unit);
      if (!entry.done) continue;
      const rpe = Number(entry.rpe);
      sets.push({
        exerciseId: ex.exerciseId,
        setNumber: set.setNumber,
        targetReps: set.reps,
        targetLoadKg: set.loadKg,
        targetRpe: set.rpeTarget,
        actualReps: Math.max(0, Math.round(Number(entry.reps) || 0)),
        actualLoadKg: Math.round(fromUnit(Number(entry.load) || 0, unit) * 1000) / 1000,
        actualRpe: entry.rpe !== "" && rpe >= 1 && rpe <= 10 ? rpe : undefined,
      });
    }
  }
  return sets;
}

function Readiness({ sessionKey }: { sessionKey: SessionKey }) {
  const s = useApp();
  const key = sessionKeyString(sessionKey);
  const result = s.readiness[key];
  const waiting = s.pending.some(
    (a) => a.kind === "submitReadiness" && (a.payload as { session?: SessionKey }).session && sessionKeyString((a.payload as { session: SessionKey }).session) === key,
  );
  const [values, setValues] = useState({ sleepHours: "7.5", sleepQuality: "3", stress: "2", soreness: "2", energy: "3", motivation: "4" });
  const scale = (id: keyof typeof values, label: string, low: string, high: string) => (
    <Field id={`r-${id}`} label={`${label} (1 ${low} – 5 ${high})`}>
      <input id={`r-${id}`} type="number" inputMode="numeric" min="1" max="5" required value={values[id]} onChange={(e) => setValues({ ...values, [id]: e.target.value })} />
    </Field>
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    await app.submitReadiness({
      date: today(),
      sleepHours: Number(values.sleepHours),
      sleepQuality: Number(values.sleepQuality),
      stress: Number(values.stress),
      soreness: Number(values.soreness),
      energy: Number(values.energy),
      motivation: Number(values.motivation),
      session: sessionKey,
    });
  }

  return (
    <section className="panel" aria-labelledby="readiness-title">
      <h2 id="readiness-title">
        Readiness check
        {result && <Badge tone={result.recommendation === ReadinessRecommendation.AS_PLANNED ? "ok" : "warn"}>Score {result.score}</Badge>}
      </h2>
      {result ? (
        <div data-testid="readiness-result" className="result">
          <p>
            <strong>Readiness {result.score}/100:</strong> {enumLabel(ReadinessRecommendation, result.recommendation)}
            {result.loadReductionPercent ? ` (loads −${result.loadReductionPercent}%)` : ""}
          </p>
          <p>{result.reason}</p>
        </div>
      ) : waiting ? (
        <p className="hint">Saved on this device; the score appears when it reaches IronPath.</p>
      ) : (
        <details>
          <summary>How ready are you today? (optional, 30 seconds)</summary>
          <form onSubmit={submit} aria-label="Readiness check">
            <div className="grid2">
              <Field id="r-sleepHours" label="Sleep last night (hours)">
                <input id="r-sleepHours" type="number" inputMode="decimal" min="0" max="16" step="0.5" required value={values.sleepHours} onChange={(e) => setValues({ ...values, sleepHours: e.target.value })} />
              </Field>
              {scale("sleepQuality", "Sleep quality", "poor", "great")}
              {scale("stress", "Stress", "none", "extreme")}
              {scale("soreness", "Soreness", "none", "extreme")}
              {scale("energy", "Energy", "low", "high")}
              {scale("motivation", "Motivation", "low", "high")}
            </div>
            <button type="submit">Check readiness</button>
          </form>
        </details>
      )}
    </section>
  );
}

function SetLogger({ sessionKey, session, unit, onCompleted }: { sessionKey: SessionKey; session: PlannedSession; unit: Unit; onCompleted: () => void }) {
  const s = useApp();
  const user = s.identity!.userId;
  const [draft, setDraft] = useState<Draft>(() => loadDraft(user, sessionKey));
  const [sessionRpe, setSessionRpe] = useState("");
  const [skipReason, setSkipReason] = useState("");

  useEffect(() => setDraft(loadDraft(user, sessionKey)), [user, sessionKey.programId, sessionKey.week, sessionKey.day]); // eslint-disable-line react-hooks/exhaustive-deps

  function change(exerciseId: string, setNumber: number, entry: SetEntry) {
    const next = { ...draft, [`${exerciseId}#${setNumber}`]: entry };
    setDraft(next);
    // Kept through a reload until the session is completed.
    localStorage.setItem(draftKey(user, sessionKey), JSON.stringify(next));
  }

  function logAllAsPlanned() {
    const next: Draft = { ...draft };
    for (const ex of session.exercises) for (const set of ex.sets) next[`${ex.exerciseId}#${set.setNumber}`] = { ...entryFor(draft, ex.exerciseId, set.setNumber, set, unit), done: true };
    setDraft(next);
    localStorage.setItem(draftKey(user, sessionKey), JSON.stringify(next));
  }

  async function complete(event: FormEvent) {
    event.preventDefault();
    const rpe = Number(sessionRpe);
    await app.completeSession({ ...sessionKey, performedSets: performedSets(session, draft, unit), sessionRpe: rpe >= 1 && rpe <= 10 ? rpe : 0 });
    localStorage.removeItem(draftKey(user, sessionKey));
    onCompleted();
  }

  async function skip() {
    await app.skipSession({ ...sessionKey, reason: skipReason.trim() || "skipped" });
    localStorage.removeItem(draftKey(user, sessionKey));
  }

  const doneCount = Object.values(draft).filter((e) => e.done).length;

  return (
    <form onSubmit={complete} aria-label="Log sets" className="logger">
      <div className="screen-head">
        <h2>Log your sets</h2>
        <button type="button" className="secondary" onClick={logAllAsPlanned}>
          All as planned
        </button>
      </div>
      {session.exercises.map((ex) => (
        <fieldset key={`${ex.order}-${ex.exerciseId}`} className="exercise">
          <legend>
            {ex.name}
            {ex.substitutedForExerciseId && <Badge tone="warn">replaces {words(ex.substitutedForExerciseId)}</Badge>}
          </legend>
          {ex.notes && <p className="hint">{ex.notes}</p>}
          {ex.sets.map((set) => {
            const entry = entryFor(draft, ex.exerciseId, set.setNumber, set, unit);
            const id = `${ex.exerciseId}-${set.setNumber}`;
            return (
              <div className={`set-row${entry.done ? " done" : ""}`} key={set.setNumber} data-set={id}>
                <div className="plan">
                  <label className="done-box">
                    <input type="checkbox" checked={entry.done} onChange={(e) => change(ex.exerciseId, set.setNumber, { ...entry, done: e.target.checked })} aria-label={`Set ${set.setNumber} of ${ex.name} done`} />
                    <span>Set {set.setNumber}</span>
                  </label>
                  <span className="target">Plan: {setLine(set, unit)}</span>
                </div>
                <div className="actual">
                  <label>
                    Reps
                    <input type="number" inputMode="numeric" min="0" max="100" value={entry.reps} onChange={(e) => change(ex.exerciseId, set.setNumber, { ...entry, reps: e.target.value })} aria-label={`Set ${set.setNumber} of ${ex.name}: reps`} />
                  </label>
                  <label>
                    Load ({unit})
                    <input type="number" inputMode="decimal" min="0" step="any" value={entry.load} onChange={(e) => change(ex.exerciseId, set.setNumber, { ...entry, load: e.target.value })} aria-label={`Set ${set.setNumber} of ${ex.name}: load in ${unit}`} />
                  </label>
                  <label>
                    RPE
                    <input type="number" inputMode="decimal" min="1" max="10" step="0.5" value={entry.rpe} placeholder={set.rpeTarget ? String(set.rpeTarget) : ""} onChange={(e) => change(ex.exerciseId, set.setNumber, { ...entry, rpe: e.target.value })} aria-label={`Set ${set.setNumber} of ${ex.name}: RPE`} />
                  </label>
                </div>
              </div>
            );
          })}
        </fieldset>
      ))}
      <Field id="session-rpe" label="Session RPE (1–10, optional)">
        <input id="session-rpe" type="number" inputMode="decimal" min="1" max="10" step="0.5" value={sessionRpe} onChange={(e) => setSessionRpe(e.target.value)} />
      </Field>
      <div className="actions">
        <button type="submit">Complete session ({doneCount} sets logged)</button>
      </div>
      <details className="skip">
        <summary>Skip this session instead</summary>
        <Field id="skip-reason" label="Why (optional)">
          <input id="skip-reason" value={skipReason} maxLength={500} onChange={(e) => setSkipReason(e.target.value)} />
        </Field>
        <button type="button" className="secondary" onClick={skip}>
          Skip session
        </button>
      </details>
    </form>
  );
}

function AdjustmentList({ adjustments }: { adjustments: Adjustment[] }) {
  if (!adjustments.length) return null;
  return (
    <ul className="adjustments">
      {adjustments.map((a, i) => {
        const where = a.session ? `Week ${a.session.weekNumber}, day ${a.session.dayNumber}` : "";
        const what =
          a.kind === "load"
            ? `load ${a.loadChangePercent > 0 ? "+" : ""}${a.loadChangePercent}%`
            : a.kind === "sets"
              ? `${a.setsChange > 0 ? "+" : ""}${a.setsChange} set${Math.abs(a.setsChange) === 1 ? "" : "s"}`
              : a.kind === "rpe"
                ? `RPE ${a.rpeChange > 0 ? "+" : ""}${a.rpeChange}`
                : a.kind === "substitution"
                  ? `${words(a.exerciseId)} → ${words(a.substituteExerciseId)}`
                  : words(a.kind);
        return (
          <li key={i}>
            <strong>{where}</strong>
            {a.exerciseId && a.kind !== "substitution" ? ` · ${words(a.exerciseId)}` : ""}: {what}
            {a.reason && <span className="hint"> — {a.reason}</span>}
          </li>
        );
      })}
    </ul>
  );
}

function FeedbackPanel({ sessionKey, shown, session, unit }: { sessionKey: SessionKey; shown: ShownLog; session: PlannedSession; unit: Unit }) {
  const s = useApp();
  const key = sessionKeyString(sessionKey);
  const result = s.feedback[key];
  const summary = shown.log?.feedback;
  const waiting = s.pending.some((a) => a.kind === "submitFeedback" && sessionKeyString(a.payload as SessionKey) === key);
  const [categories, setCategories] = useState<number[]>([]);
  const [painArea, setPainArea] = useState(0);
  const [missing, setMissing] = useState<number[]>([]);
  const [rpe, setRpe] = useState(shown.log?.sessionRpe ? String(shown.log.sessionRpe) : "8");
  const [notes, setNotes] = useState("");
  const [error, setError] = useState("");

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!categories.length) return setError("Choose at least one.");
    if (categories.includes(FeedbackCategory.JOINT_PAIN) && !painArea) return setError("Say where the pain is.");
    setError("");
    const completeTime = shown.completeTime || new Date().toISOString();
    const payload: FeedbackPayload = {
      ...sessionKey,
      categories,
      painArea: categories.includes(FeedbackCategory.JOINT_PAIN) ? painArea : 0,
      notes: notes.trim(),
      sessionRpe: Number(rpe),
      performedSets: shown.log?.performedSets.length ? shown.log.performedSets.map((p) => ({
        exerciseId: p.exerciseId,
        setNumber: p.setNumber,
        targetReps: p.targetReps,
        targetLoadKg: p.targetLoadKg,
        targetRpe: p.targetRpe,
        actualReps: p.actualReps,
        actualLoadKg: p.actualLoadKg,
        actualRpe: p.actualRpe,
      }))
        : // Completed on this device and not sent yet: the sets are in the queued completion.
          ((s.pending.find((a) => a.kind === "completeSession" && sessionKeyString(a.payload as SessionKey) === key)?.payload as CompletePayload | undefined)
            ?.performedSets ?? []),
      unavailableEquipment: categories.includes(FeedbackCategory.EQUIPMENT_UNAVAILABLE) ? missing : [],
      completeTime,
    };
    await app.submitFeedback(payload);
  }

  if (result || summary) {
    const reason = result?.feedback?.adjustmentReason ?? summary?.adjustmentReason ?? "";
    return (
      <section className="panel" aria-labelledby="fb-title" data-testid="feedback-result">
        <h2 id="fb-title">Feedback</h2>
        <p>
          {(result?.feedback?.categories ?? summary?.categories ?? []).map((c) => (
            <Badge key={c}>{enumLabel(FeedbackCategory, c)}</Badge>
          ))}{" "}
          Session RPE {result?.feedback?.sessionRpe ?? summary?.sessionRpe}
        </p>
        <h3>What changes next</h3>
        <p data-testid="adjustment-reason">{reason || "No change: the plan stands."}</p>
        {result && <AdjustmentList adjustments={result.feedback?.adjustments ?? []} />}
        {result?.adjustedSessions.map((adjusted) => (
          <details key={`${adjusted.weekNumber}/${adjusted.dayNumber}`} className="session">
            <summary>
              Adjusted: week {adjusted.weekNumber}, day {adjusted.dayNumber} — {adjusted.title}
            </summary>
            <ExerciseList session={adjusted} unit={unit} />
          </details>
        ))}
        <p>
          <a href={`#/train/${sessionKey.programId}`}>Go to the next session</a>
        </p>
      </section>
    );
  }
  if (waiting) {
    return (
      <section className="panel" data-testid="feedback-waiting">
        <h2>Feedback</h2>
        <p className="hint">Saved on this device. The adjustment and its reason appear when it reaches IronPath.</p>
      </section>
    );
  }
  void session;
  return (
    <form className="panel" onSubmit={submit} aria-label="Session feedback">
      <h2>How did it go?</h2>
      <fieldset className="checks">
        <legend>Feedback</legend>
        {enumOptions(FeedbackCategory).map((o) => (
          <label key={o.value}>
            <input type="checkbox" name="category" value={o.value} checked={categories.includes(o.value)} onChange={() => setCategories((c) => (c.includes(o.value) ? c.filter((x) => x !== o.value) : [...c, o.value]))} /> {o.label}
          </label>
        ))}
      </fieldset>
      {categories.includes(FeedbackCategory.JOINT_PAIN) && (
        <Field id="pain-area" label="Where is the pain?">
          <select id="pain-area" value={painArea} onChange={(e) => setPainArea(Number(e.target.value))} required>
            <option value={0}>Choose…</option>
            {enumOptions(BodyArea).map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </Field>
      )}
      {categories.includes(FeedbackCategory.EQUIPMENT_UNAVAILABLE) && (
        <fieldset className="checks">
          <legend>What was missing?</legend>
          {enumOptions(Equipment).map((o) => (
            <label key={o.value}>
              <input type="checkbox" checked={missing.includes(o.value)} onChange={() => setMissing((m) => (m.includes(o.value) ? m.filter((x) => x !== o.value) : [...m, o.value]))} /> {o.label}
            </label>
          ))}
        </fieldset>
      )}
      <Field id="fb-rpe" label="Session RPE (1–10)">
        <input id="fb-rpe" type="number" inputMode="decimal" min="1" max="10" step="0.5" required value={rpe} onChange={(e) => setRpe(e.target.value)} />
      </Field>
      <Field id="fb-notes" label="Note (optional)">
        <textarea id="fb-notes" rows={3} maxLength={2000} value={notes} onChange={(e) => setNotes(e.target.value)} />
      </Field>
      {error && (
        <p className="notice error" role="alert">
          {error}
        </p>
      )}
      <button type="submit">Send feedback</button>
    </form>
  );
}

export function TrainScreen({ programId, week, day }: { programId: string; week: number; day: number }) {
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
  const [justCompleted, setJustCompleted] = useState(false);
  const [useReadiness, setUseReadiness] = useState(true);
  useEffect(() => setJustCompleted(false), [programId, week, day]);
  const upcoming = week && day ? null : nextSession(shown);
  useEffect(() => {
    // "Train" opens the next session; the address then names it, so completing it keeps it on screen.
    const route = parseRoute(location.hash);
    if (upcoming && route[0] === "train" && route.length <= 2) location.replace(`#/train/${programId}/${upcoming.week}/${upcoming.day}`);
  }, [programId, upcoming?.week, upcoming?.day]); // eslint-disable-line react-hooks/exhaustive-deps

  if (s.programId === programId && s.programStatus === "notFound") {
    return (
      <Screen title="Program not found">
        <p data-testid="not-found">There is no program at this address that you can see.</p>
      </Screen>
    );
  }
  if (!program) {
    return (
      <Screen title="Train">
        <p className="empty">Loading…</p>
      </Screen>
    );
  }
  const current = week && day ? shown.find((x) => x.week === week && x.day === day) : nextSession(shown);
  if (!current) {
    return (
      <Screen title="Train">
        <p className="empty">Every session of this program is done. <a href="#/generate">Start a new program</a>.</p>
      </Screen>
    );
  }
  const sessionKey: SessionKey = { programId, week: current.week, day: current.day };
  const planned = program.programWeeks.flatMap((w) => w.sessions).find((x) => x.weekNumber === current.week && x.dayNumber === current.day);
  // The effective prescription: adjusted by feedback or readiness when the server says so.
  const session = current.log?.prescription ?? planned;
  const index = shown.indexOf(current);
  const prev = shown[index - 1];
  const following = shown[index + 1];
  const deload = program.programWeeks.find((w) => w.weekNumber === current.week)?.deload;
  // A readiness check that asks for less today comes with the session as it should be trained.
  const readiness = s.readiness[sessionKeyString(sessionKey)];
  const readinessSession =
    readiness && readiness.recommendation !== ReadinessRecommendation.AS_PLANNED && readiness.adjustedSession?.exercises.length
      ? readiness.adjustedSession
      : null;

  return (
    <Screen title={`Week ${current.week}, day ${current.day}`}>
      <p className="meta">
        {current.title} {deload && <Badge tone="warn">Deload</Badge>} <StatusBadge shown={current} />
        {current.log?.prescriptionAdjusted && <Badge tone="warn">Adjusted</Badge>}
        {current.completeTime && current.status === SessionStatus.COMPLETED && <span className="hint"> {formatTime(current.completeTime)}</span>}
      </p>
      <nav className="pager" aria-label="Sessions">
        {prev ? <a href={`#/train/${programId}/${prev.week}/${prev.day}`}>← Week {prev.week}, day {prev.day}</a> : <span />}
        {following ? <a href={`#/train/${programId}/${following.week}/${following.day}`}>Week {following.week}, day {following.day} →</a> : <span />}
      </nav>
      {!session ? (
        <p className="empty">This session has no prescription.</p>
      ) : current.status === SessionStatus.COMPLETED ? (
        <>
          {justCompleted && <p className="notice info" role="status">Session completed{current.waiting ? " — saved on this device, waiting to sync" : ""}.</p>}
          <FeedbackPanel sessionKey={sessionKey} shown={current} session={session} unit={unit} />
          {current.log?.performedSets.length ? (
            <section className="panel">
              <h2>What you lifted</h2>
              <ul className="sets">
                {current.log.performedSets.map((p) => (
                  <li key={`${p.exerciseId}-${p.setNumber}`}>
                    {words(p.exerciseId)} set {p.setNumber}: {p.actualLoadKg ? `${p.actualReps} × ${plateLoad(p.actualLoadKg, unit)}` : `${p.actualReps} reps`}
                    {p.actualRpe !== undefined ? ` @ RPE ${p.actualRpe}` : ""}
                  </li>
                ))}
              </ul>
            </section>
          ) : null}
        </>
      ) : current.status === SessionStatus.SKIPPED ? (
        <p className="notice info">Skipped{current.log?.skipReason ? `: ${current.log.skipReason}` : ""}.</p>
      ) : (
        <>
          <Readiness sessionKey={sessionKey} />
          {readinessSession && (
            <label className="notice info toggle">
              <input type="checkbox" checked={useReadiness} onChange={(e) => setUseReadiness(e.target.checked)} /> Train today's adjusted
              prescription from the readiness check
            </label>
          )}
          <SetLogger
            sessionKey={sessionKey}
            session={useReadiness && readinessSession ? readinessSession : session}
            unit={unit}
            onCompleted={() => setJustCompleted(true)}
          />
        </>
      )}
      <p className="hint">
        <a href={`#/progress/${programId}`}>Progress and check-ins</a> · last 7 days from {daysAgo(6)}
      </p>
    </Screen>
  );
}
