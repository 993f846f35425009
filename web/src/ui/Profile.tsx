import { create } from "@bufbuild/protobuf";
import { useEffect, useState, type FormEvent } from "react";
import { BodyArea, Equipment, MainLift, WeightUnit } from "../gen/ironpath/common/v1/training_pb";
import {
  ExperienceLevel,
  LifterProfileSchema,
  OneRepMaxSchema,
  Sex,
  TrainingGoal,
  type LifterProfile,
} from "../gen/ironpath/program/v1/program_pb";
import { app, useApp } from "../store";
import { fromUnit, toUnit, weight, type Unit } from "../units";
import { enumLabel, enumOptions, Field, Screen, unitOf } from "./common";

const LIFTS = enumOptions(MainLift);

interface MaxEntry {
  weight: string;
  tested: boolean;
}

interface Form {
  unit: Unit;
  bodyweight: string;
  heightCm: string;
  ageYears: string;
  sex: Sex;
  experience: ExperienceLevel;
  trainingAge: string;
  maxes: Record<number, MaxEntry>;
  equipment: number[];
  limitations: number[];
  goals: number[];
}

function round1(n: number): string {
  return n ? String(Math.round(n * 10) / 10) : "";
}

function formOf(p: LifterProfile | null): Form {
  const unit = unitOf(p?.unit);
  const maxes: Record<number, MaxEntry> = {};
  for (const lift of LIFTS) maxes[lift.value] = { weight: "", tested: false };
  for (const m of p?.oneRepMaxes ?? []) maxes[m.lift] = { weight: round1(toUnit(m.weightKg, unit)), tested: m.tested };
  return {
    unit,
    bodyweight: round1(toUnit(p?.bodyweightKg ?? 0, unit)),
    heightCm: p?.heightCm ? String(p.heightCm) : "",
    ageYears: p?.ageYears ? String(p.ageYears) : "",
    sex: p?.sex ?? Sex.UNSPECIFIED,
    experience: p?.experienceLevel || ExperienceLevel.NOVICE,
    trainingAge: p?.trainingAgeYears ? String(p.trainingAgeYears) : "",
    maxes,
    equipment: p?.equipment ?? [],
    limitations: p?.limitations ?? [],
    goals: p?.goals ?? [],
  };
}

function profileOf(f: Form): LifterProfile {
  return create(LifterProfileSchema, {
    unit: f.unit === "lb" ? WeightUnit.LB : WeightUnit.KG,
    bodyweightKg: fromUnit(Number(f.bodyweight) || 0, f.unit),
    heightCm: Number(f.heightCm) || 0,
    ageYears: Math.round(Number(f.ageYears) || 0),
    sex: f.sex,
    experienceLevel: f.experience,
    trainingAgeYears: Number(f.trainingAge) || 0,
    oneRepMaxes: LIFTS.filter((l) => Number(f.maxes[l.value]?.weight) > 0).map((l) =>
      create(OneRepMaxSchema, {
        lift: l.value,
        weightKg: fromUnit(Number(f.maxes[l.value].weight), f.unit),
        tested: f.maxes[l.value].tested,
      }),
    ),
    equipment: f.equipment,
    limitations: f.limitations,
    goals: f.goals,
  });
}

function toggle(list: number[], value: number): number[] {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
}

function Checkboxes(props: { legend: string; name: string; options: { value: number; label: string }[]; value: number[]; onChange: (v: number[]) => void }) {
  return (
    <fieldset className="checks">
      <legend>{props.legend}</legend>
      {props.options.map((o) => (
        <label key={o.value}>
          <input
            type="checkbox"
            name={props.name}
            value={o.value}
            checked={props.value.includes(o.value)}
            onChange={() => props.onChange(toggle(props.value, o.value))}
          />{" "}
          {o.label}
        </label>
      ))}
    </fieldset>
  );
}

/** One profile in words, for choosing between two versions; what differs from the other is marked. */
function profileRows(p: LifterProfile | null): [string, string][] {
  if (!p) return [];
  const unit = unitOf(p.unit);
  const maxes = LIFTS.map((l): [string, string] => {
    const m = p.oneRepMaxes.find((x) => x.lift === l.value);
    return [`${l.label} 1RM`, m ? `${weight(m.weightKg, unit)} (${m.tested ? "tested" : "estimated"})` : "—"];
  });
  return [
    ["Units", unit],
    ["Bodyweight", p.bodyweightKg ? weight(p.bodyweightKg, unit) : "—"],
    ["Experience", enumLabel(ExperienceLevel, p.experienceLevel)],
    ...maxes,
    ["Equipment", p.equipment.map((e) => enumLabel(Equipment, e)).join(", ") || "—"],
    ["Limitations", p.limitations.map((a) => enumLabel(BodyArea, a)).join(", ") || "none"],
    ["Goals", p.goals.map((g) => enumLabel(TrainingGoal, g)).join(", ") || "—"],
  ];
}

function ProfileSummary({ p, other }: { p: LifterProfile | null; other: LifterProfile | null }) {
  if (!p) return <p>No profile.</p>;
  const theirs = new Map(profileRows(other));
  return (
    <dl className="summary">
      {profileRows(p).map(([label, value]) => {
        const differs = theirs.get(label) !== value;
        return (
          <div key={label} className={`pair${differs ? " differs" : ""}`}>
            <dt>{label}</dt>
            <dd>
              {value}
              {differs && <span className="sr-only"> (differs)</span>}
            </dd>
          </div>
        );
      })}
    </dl>
  );
}

export function ProfileScreen() {
  const s = useApp();
  const [form, setForm] = useState<Form>(() => formOf(s.profile));
  const [dirty, setDirty] = useState(false);
  const [etag, setEtag] = useState(s.profile?.etag ?? "");
  const [saved, setSaved] = useState(false);

  // A new server version (another device, a finished save) refreshes a form not being edited.
  useEffect(() => {
    if (!dirty) {
      setForm(formOf(s.profile));
      setEtag(s.profile?.etag ?? "");
    }
  }, [s.profile?.etag, s.profileStatus]); // eslint-disable-line react-hooks/exhaustive-deps

  function update(patch: Partial<Form>) {
    setForm((f) => ({ ...f, ...patch }));
    setDirty(true);
    setSaved(false);
  }

  function changeUnit(unit: Unit) {
    // Keep the same weights, shown in the new unit.
    const kg = profileOf(form);
    setForm({ ...formOf({ ...kg, unit: unit === "lb" ? WeightUnit.LB : WeightUnit.KG }), equipment: form.equipment, limitations: form.limitations, goals: form.goals });
    setDirty(true);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    await app.saveProfile(profileOf(form), etag);
    setDirty(false);
    setSaved(true);
  }

  const waiting = s.pending.some((a) => a.kind === "upsertProfile" && a.userId === s.identity?.userId);

  return (
    <Screen title="Profile">
      {s.conflict && (
        <section className="conflict" aria-labelledby="conflict-title" role="alert">
          <h2 id="conflict-title">Your profile changed on another device</h2>
          <p>Choose which version to keep.</p>
          <div className="versions">
            <div>
              <h3>This device (yours)</h3>
              <ProfileSummary p={s.conflict.mine} other={s.conflict.theirs} />
              <button type="button" onClick={() => app.resolveConflict("mine")}>
                Keep this device's version
              </button>
            </div>
            <div>
              <h3>Saved from another device</h3>
              <ProfileSummary p={s.conflict.theirs} other={s.conflict.mine} />
              <button type="button" className="secondary" onClick={() => app.resolveConflict("theirs")}>
                Use the other version
              </button>
            </div>
          </div>
        </section>
      )}
      {s.profileStatus === "notFound" && !s.profile && <p className="notice info">No profile yet: fill it in so programs use your numbers.</p>}
      <form onSubmit={submit} aria-label="Profile">
        <fieldset className="inline">
          <legend>Units</legend>
          {(["kg", "lb"] as Unit[]).map((u) => (
            <label key={u}>
              <input type="radio" name="unit" value={u} checked={form.unit === u} onChange={() => changeUnit(u)} /> {u}
            </label>
          ))}
        </fieldset>
        <div className="grid2">
          <Field id="bodyweight" label={`Bodyweight (${form.unit})`}>
            <input id="bodyweight" type="number" inputMode="decimal" min="0" step="0.1" value={form.bodyweight} onChange={(e) => update({ bodyweight: e.target.value })} />
          </Field>
          <Field id="height" label="Height (cm)">
            <input id="height" type="number" inputMode="decimal" min="0" max="260" value={form.heightCm} onChange={(e) => update({ heightCm: e.target.value })} />
          </Field>
          <Field id="age" label="Age (years)">
            <input id="age" type="number" inputMode="numeric" min="0" max="110" value={form.ageYears} onChange={(e) => update({ ageYears: e.target.value })} />
          </Field>
          <Field id="sex" label="Sex">
            <select id="sex" value={form.sex} onChange={(e) => update({ sex: Number(e.target.value) })}>
              <option value={0}>Prefer not to say</option>
              {enumOptions(Sex).map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </Field>
          <Field id="experience" label="Experience">
            <select id="experience" value={form.experience} onChange={(e) => update({ experience: Number(e.target.value) })}>
              {enumOptions(ExperienceLevel).map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </Field>
          <Field id="training-age" label="Years of training">
            <input id="training-age" type="number" inputMode="decimal" min="0" max="80" step="0.5" value={form.trainingAge} onChange={(e) => update({ trainingAge: e.target.value })} />
          </Field>
        </div>
        <fieldset>
          <legend>One-rep maxes ({form.unit})</legend>
          {LIFTS.map((lift) => {
            const entry = form.maxes[lift.value];
            const id = `max-${lift.value}`;
            return (
              <div className="max-row" key={lift.value}>
                <label htmlFor={id}>{lift.label}</label>
                <input
                  id={id}
                  type="number"
                  inputMode="decimal"
                  min="0"
                  step="0.5"
                  value={entry.weight}
                  onChange={(e) => update({ maxes: { ...form.maxes, [lift.value]: { ...entry, weight: e.target.value } } })}
                />
                <label className="tested">
                  <input
                    type="checkbox"
                    checked={entry.tested}
                    onChange={(e) => update({ maxes: { ...form.maxes, [lift.value]: { ...entry, tested: e.target.checked } } })}
                  />{" "}
                  tested
                </label>
              </div>
            );
          })}
          <small className="hint">Leave “tested” off for an estimate.</small>
        </fieldset>
        <Checkboxes legend="Equipment you have" name="equipment" options={enumOptions(Equipment)} value={form.equipment} onChange={(v) => update({ equipment: v })} />
        <Checkboxes legend="Limitations (painful or injured areas)" name="limitations" options={enumOptions(BodyArea)} value={form.limitations} onChange={(v) => update({ limitations: v })} />
        <Checkboxes legend="Goals" name="goals" options={enumOptions(TrainingGoal)} value={form.goals} onChange={(v) => update({ goals: v })} />
        <div className="actions">
          <button type="submit">Save profile</button>
          <span role="status" className="hint">
            {waiting ? "Saved on this device; waiting to sync." : saved ? "Saved." : ""}
          </span>
        </div>
      </form>
    </Screen>
  );
}
