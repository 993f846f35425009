import { useState, type FormEvent } from "react";
import { app, useApp } from "../store";
import { Field } from "./common";

export function SignIn() {
  const s = useApp();
  const [token, setToken] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const waiting = s.pending.length;

  function submitToken(event: FormEvent) {
    event.preventDefault();
    setError(app.auth.useToken(token));
  }

  async function submitPassword(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(await app.auth.signInWithPassword(email, password));
    setBusy(false);
  }

  return (
    <main id="main" className="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in to IronPath</h1>
      {s.accountDeleted && <p className="notice info">Your account and everything in it were deleted.</p>}
      {s.authRejected && (
        <p className="notice error" role="alert" data-testid="signin-again">
          Your sign-in has expired or was refused. Sign in again to carry on
          {waiting > 0 ? `: ${waiting} action${waiting === 1 ? "" : "s"} saved on this device will be sent then.` : "."}
        </p>
      )}
      {!s.authRejected && waiting > 0 && (
        <p className="notice info">
          {waiting} action{waiting === 1 ? "" : "s"} saved on this device will be sent after you sign in.
        </p>
      )}
      {app.auth.usesSupabase && (
        <form onSubmit={submitPassword} aria-label="Sign in with email">
          <Field id="email" label="Email">
            <input id="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          </Field>
          <Field id="password" label="Password">
            <input
              id="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </Field>
          <button type="submit" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      )}
      {app.config.allowDevTokens && (
        <form onSubmit={submitToken} aria-label="Sign in with a development token">
          <Field id="token" label="Development token" hint="From `make token USER=alice`, or open the address `make run` prints.">
            <textarea
              id="token"
              rows={4}
              required
              spellCheck={false}
              aria-describedby="token-hint"
              value={token}
              onChange={(e) => setToken(e.target.value)}
            />
          </Field>
          <button type="submit">Sign in with token</button>
        </form>
      )}
      {error && (
        <p className="notice error" role="alert">
          {error}
        </p>
      )}
    </main>
  );
}
