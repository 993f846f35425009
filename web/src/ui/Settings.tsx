import { useState, type FormEvent } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import { ExportFormat } from "../gen/ironpath/program/v1/program_pb";
import { describe } from "../rpc";
import { app, useApp } from "../store";
import { Field, formatTime, Screen, words } from "./common";

const CONFIRMATION = "DELETE MY ACCOUNT";

export function SettingsScreen() {
  const s = useApp();
  const [exporting, setExporting] = useState(false);
  const [exportMessage, setExportMessage] = useState("");
  const [download, setDownload] = useState<{ url: string; name: string } | null>(null);
  const [confirm, setConfirm] = useState("");
  const mine = s.pending.filter((a) => a.userId === s.identity?.userId);
  const deleting = mine.some((a) => a.kind === "deleteAccount");

  async function exportData(format: ExportFormat) {
    setExporting(true);
    setExportMessage("");
    try {
      const { blob, fileName } = await app.exportData(format);
      if (download) URL.revokeObjectURL(download.url);
      const url = URL.createObjectURL(blob);
      setDownload({ url, name: fileName });
      setExportMessage(`Ready: ${fileName} (${Math.ceil(blob.size / 1024)} KB).`);
    } catch (error) {
      const code = ConnectError.from(error).code;
      setExportMessage(code === Code.Unimplemented ? "Export is not available yet." : `Export failed: ${describe(error)}`);
    } finally {
      setExporting(false);
    }
  }

  async function deleteAccount(event: FormEvent) {
    event.preventDefault();
    if (confirm !== CONFIRMATION) return;
    await app.deleteAccount({ confirmation: confirm });
    setConfirm("");
  }

  return (
    <Screen title="Settings">
      <section className="panel" aria-labelledby="account-title">
        <h2 id="account-title">Account</h2>
        <p>
          Signed in as <strong>{s.identity?.email || "a lifter"}</strong>
          <br />
          <small className="hint">User id {s.identity?.userId}</small>
        </p>
        <button type="button" className="secondary" onClick={() => void app.signOut()}>
          Sign out
        </button>
        {mine.length > 0 && <p className="hint">Actions waiting to sync stay on this device and are sent after you sign in again.</p>}
      </section>

      <section className="panel" aria-labelledby="queue-title">
        <h2 id="queue-title">Waiting to sync</h2>
        {mine.length ? (
          <ol data-testid="queue-list">
            {mine.map((a) => (
              <li key={a.seq}>
                {words(a.kind.replace(/([A-Z])/g, "_$1"))} · {formatTime(a.createdAt)}
                {a.attempts > 0 && <span className="hint"> · tried {a.attempts}×</span>}
              </li>
            ))}
          </ol>
        ) : (
          <p>Everything is saved on IronPath.</p>
        )}
      </section>

      <section className="panel" aria-labelledby="export-title">
        <h2 id="export-title">Export your data</h2>
        <p>Everything IronPath holds about you: profile, programs, every logged session and set, feedback, check-ins and readiness.</p>
        <div className="actions">
          <button type="button" disabled={exporting} onClick={() => void exportData(ExportFormat.JSON)}>
            Export as JSON
          </button>
          <button type="button" className="secondary" disabled={exporting} onClick={() => void exportData(ExportFormat.STRONG_CSV)}>
            Export sets as CSV (Strong)
          </button>
        </div>
        <p role="status" data-testid="export-status">
          {exporting ? "Preparing…" : exportMessage}{" "}
          {download && (
            <a href={download.url} download={download.name}>
              Download {download.name}
            </a>
          )}
        </p>
      </section>

      <section className="panel danger" aria-labelledby="delete-title">
        <h2 id="delete-title">Delete your account</h2>
        <p>This erases your profile, programs and every log in every IronPath service. It cannot be undone.</p>
        {deleting ? (
          <p role="status">Deleting… (waiting for a connection if you are offline)</p>
        ) : (
          <form onSubmit={deleteAccount} aria-label="Delete account">
            <Field id="confirm-delete" label={`Type ${CONFIRMATION} to confirm`}>
              <input id="confirm-delete" autoComplete="off" value={confirm} onChange={(e) => setConfirm(e.target.value)} />
            </Field>
            <button type="submit" className="danger" disabled={confirm !== CONFIRMATION}>
              Delete my account
            </button>
          </form>
        )}
      </section>
    </Screen>
  );
}
