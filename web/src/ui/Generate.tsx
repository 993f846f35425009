import { useEffect, useState, type FormEvent } from "react";
import { TrainingGoal } from "../gen/ironpath/program/v1/program_pb";
import { app, useApp } from "../store";
import { enumOptions, Field, go, Screen, today, words } from "./common";

const LIFT_AREAS = ["squat", "bench_press", "deadlift", "overhead_press"];
const MUSCLE_GROUPS = ["quads", "hamstrings", "glutes", "back", "chest", "shoulders", "arms", "core"];

export function GenerateScreen() {
  const s = useApp();
  const [methodologyId, setMethodologyId] = useState("");
  const [goal, setGoal] = useState<number>(TrainingGoal.STRENGTH);
  const [weeks, setWeeks] = useState("4");
  const [days, setDays] = useState("4");
  const [focus, setFocus] = useState<string[]>([]);
  const [startDate, setStartDate] = useState(today());
  const [name, setName] = useState("");
  const [sentId, setSentId] = useState<string | null>(null);

  const waiting = sentId !== null && s.pending.some((a) => a.requestId === sentId);

  useEffect(() => {
    if (sentId && s.generatedProgramId) {
      setSentId(null);
      void app.openProgram(s.generatedProgramId).then(() => undefined);
      go("program", s.generatedProgramId);
    }
  }, [sentId, s.generatedProgramId]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const action = await app.generateProgram({
      goal,
      weeks: Number(weeks),
      daysPerWeek: Number(days),
      methodologyId,
      focusAreas: focus,
      startDate,
      name: name.trim(),
    });
    setSentId(action.requestId);
  }

  function toggleFocus(area: string) {
    setFocus((f) => (f.includes(area) ? f.filter((a) => a !== area) : [...f, area]));
  }

  return (
    <Screen title="New program">
      {!s.profile && (
        <p className="notice info">
          Without a <a href="#/profile">profile</a> loads are set by RPE. Add your one-rep maxes for exact loads.
        </p>
      )}
      <form onSubmit={submit} aria-label="Generate a program">
        <fieldset className="methodologies">
          <legend>Methodology</legend>
          <label className="card">
            <input type="radio" name="methodology" value="" checked={methodologyId === ""} onChange={() => setMethodologyId("")} />
            <span>
              <strong>Choose for me</strong>
              <span className="desc">Picked from your experience and goal.</span>
            </span>
          </label>
          {s.methodologies.map((m) => (
            <label className="card" key={m.methodologyId}>
              <input
                type="radio"
                name="methodology"
                value={m.methodologyId}
                checked={methodologyId === m.methodologyId}
                onChange={() => setMethodologyId(m.methodologyId)}
              />
              <span>
                <strong>{m.name}</strong>
                <span className="desc">{m.description}</span>
                <span className="desc">
                  Suits: {m.suits} · {m.cycleWeeks}-week cycle · Deload: {m.deloadRule}
                </span>
              </span>
            </label>
          ))}
          {!s.methodologies.length && <p className="hint">The methodology list appears when IronPath can be reached.</p>}
        </fieldset>
        <div className="grid2">
          <Field id="goal" label="Goal">
            <select id="goal" value={goal} onChange={(e) => setGoal(Number(e.target.value))}>
              {enumOptions(TrainingGoal).map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </Field>
          <Field id="weeks" label="Weeks">
            <input id="weeks" type="number" inputMode="numeric" min="1" max="52" required value={weeks} onChange={(e) => setWeeks(e.target.value)} />
          </Field>
          <Field id="days" label="Days per week">
            <input id="days" type="number" inputMode="numeric" min="2" max="6" required value={days} onChange={(e) => setDays(e.target.value)} />
          </Field>
          <Field id="start" label="Start date">
            <input id="start" type="date" value={startDate} onChange={(e) => setStartDate(e.target.value)} />
          </Field>
        </div>
        <fieldset className="checks">
          <legend>Focus areas (extra volume, up to 6)</legend>
          {[...LIFT_AREAS, ...MUSCLE_GROUPS].map((area) => (
            <label key={area}>
              <input type="checkbox" name="focus" value={area} checked={focus.includes(area)} disabled={!focus.includes(area) && focus.length >= 6} onChange={() => toggleFocus(area)} />{" "}
              {words(area)}
            </label>
          ))}
        </fieldset>
        <Field id="name" label="Name (optional)">
          <input id="name" maxLength={120} value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <div className="actions">
          <button type="submit" disabled={waiting}>
            {waiting ? "Generating…" : "Generate program"}
          </button>
          <span role="status" className="hint">
            {waiting && !s.online ? "Saved on this device: it is generated when you are back online." : ""}
          </span>
        </div>
      </form>
    </Screen>
  );
}
