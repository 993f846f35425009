import { useState } from "react";
import { app, useApp } from "../store";

/** Offered once per lifter when this browser still holds the old app's progress. */
export function LegacyOffer() {
  const s = useApp();
  const [programId, setProgramId] = useState("");
  const result = s.importResult;
  if (result) {
    return (
      <section className="panel legacy" aria-labelledby="import-title" data-testid="import-result">
        <h2 id="import-title">Old progress imported</h2>
        <p>
          Taken: {result.acceptedCount} · not taken: {result.refusedCount}
        </p>
        <ul>
          {result.items.map((item) => (
            <li key={item.path}>
              <code>{item.path}</code>: {item.accepted ? "taken" : `not taken — ${item.reason}`}
            </li>
          ))}
        </ul>
        <button type="button" className="secondary" onClick={() => app.dismissImport()}>
          Done
        </button>
      </section>
    );
  }
  if (!s.legacy) return null;
  const target = programId || s.programId || s.programs[0]?.programId || "";
  return (
    <section className="panel legacy" aria-labelledby="legacy-title" data-testid="legacy-offer">
      <h2 id="legacy-title">Progress from the old app</h2>
      <p>
        This browser still holds progress from the previous IronPath app
        {s.legacy.completedCount ? ` (${s.legacy.completedCount} completed sessions)` : ""}. Import it so it is kept on
        IronPath and on your other devices?
      </p>
      {s.programs.length > 1 && (
        <div className="field">
          <label htmlFor="legacy-program">Into program</label>
          <select id="legacy-program" value={target} onChange={(e) => setProgramId(e.target.value)}>
            {s.programs.map((p) => (
              <option key={p.programId} value={p.programId}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
      )}
      {!target && <p className="hint">Generate a program first: old progress is imported into one.</p>}
      <div className="actions">
        <button type="button" disabled={!target} onClick={() => void app.importLegacy({ programId: target, legacyStateJson: s.legacy!.json })}>
          Import
        </button>
        <button type="button" className="secondary" onClick={() => app.declineLegacy()}>
          No thanks
        </button>
      </div>
    </section>
  );
}
