import { useEffect } from "react";
import { app, useApp } from "../store";
import { go, parseRoute, useRoute } from "./common";
import { GenerateScreen } from "./Generate";
import { LegacyOffer } from "./Legacy";
import { ProfileScreen } from "./Profile";
import { ProgramScreen } from "./ProgramView";
import { ProgressScreen } from "./Progress";
import { SettingsScreen } from "./Settings";
import { SignIn } from "./SignIn";
import { TrainScreen } from "./Train";

function SyncStatus() {
  const s = useApp();
  const waiting = s.pending.filter((a) => a.userId === s.identity?.userId).length;
  let text: string;
  if (waiting) text = `${waiting} waiting to sync`;
  else if (!s.online) text = "Offline";
  else text = "All saved";
  return (
    <div className="sync" role="status" aria-live="polite">
      <span data-testid="pending-count" data-count={waiting} className={waiting ? "waiting" : "saved"}>
        {text}
      </span>
      {waiting > 0 && (
        <button type="button" className="link" onClick={() => app.retryNow()}>
          Retry now
        </button>
      )}
      {s.live === "live" && <span className="live" title="Live updates from your other devices">● live</span>}
    </div>
  );
}

function Notices() {
  const s = useApp();
  if (!s.notices.length) return null;
  return (
    <div className="notices" role="alert">
      {s.notices.map((n) => (
        <p key={n.id} className={`notice ${n.tone}`}>
          {n.text}{" "}
          <button type="button" className="link" onClick={() => app.dismissNotice(n.id)} aria-label="Dismiss">
            ✕
          </button>
        </p>
      ))}
    </div>
  );
}

function Nav({ active }: { active: string }) {
  const s = useApp();
  const id = s.programId;
  const items: [string, string, string][] = [
    ["program", "Program", id ? `#/program/${id}` : "#/generate"],
    ["train", "Train", id ? `#/train/${id}` : "#/generate"],
    ["progress", "Progress", id ? `#/progress/${id}` : "#/generate"],
    ["profile", "Profile", "#/profile"],
    ["settings", "Settings", "#/settings"],
  ];
  return (
    <nav className="tabs" aria-label="Main">
      {items.map(([key, label, href]) => (
        <a key={key} href={href} aria-current={active === key ? "page" : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}

function Home() {
  const s = useApp();
  useEffect(() => {
    // Only from the bare address: never override where the lifter has gone since.
    if (parseRoute(location.hash).length) return;
    if (s.programId) go("program", s.programId);
    else if (s.programsStatus === "loaded" && !s.programs.length) go("generate");
    else if (s.programs.length) go("program", s.programs[0].programId);
  }, [s.programId, s.programsStatus, s.programs]);
  return (
    <main id="main">
      <p className="empty">Loading your training…</p>
    </main>
  );
}

export function App() {
  const s = useApp();
  const route = useRoute();
  if (s.phase === "starting") return <p className="empty">Starting IronPath…</p>;
  if (s.phase === "signedOut" || s.authRejected) return <SignIn />;
  const [screen = "", ...rest] = route;
  let body;
  switch (screen) {
    case "program":
      body = <ProgramScreen programId={rest[0]} />;
      break;
    case "train":
      body = <TrainScreen programId={rest[0]} week={Number(rest[1]) || 0} day={Number(rest[2]) || 0} />;
      break;
    case "progress":
      body = <ProgressScreen programId={rest[0]} />;
      break;
    case "generate":
      body = <GenerateScreen />;
      break;
    case "profile":
      body = <ProfileScreen />;
      break;
    case "settings":
      body = <SettingsScreen />;
      break;
    default:
      body = <Home />;
  }
  return (
    <div className="app">
      <a className="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header className="top">
        <a className="brand" href="#/">
          IronPath
        </a>
        <SyncStatus />
      </header>
      <Notices />
      <LegacyOffer />
      {body}
      <Nav active={screen} />
    </div>
  );
}
