import { useEffect, useState, type ReactNode } from "react";
import { WeightUnit } from "../gen/ironpath/common/v1/training_pb";
import type { Unit } from "../units";

// -- routing: the hash is the route, so any static server can serve the app -------------------

export function parseRoute(hash: string): string[] {
  return hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
}

export function useRoute(): string[] {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const update = () => setHash(location.hash);
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return parseRoute(hash);
}

export function go(...parts: (string | number)[]): void {
  location.hash = "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
}

// -- enums as words -----------------------------------------------------------------------------

/** The values of a generated enum except UNSPECIFIED, with readable labels. */
export function enumOptions(e: Record<string, string | number>, labels: Record<number, string> = {}): { value: number; label: string }[] {
  return Object.entries(e)
    .filter(([, v]) => typeof v === "number" && v !== 0)
    .map(([k, v]) => ({ value: v as number, label: labels[v as number] ?? words(k) }));
}

export function words(name: string): string {
  const text = name.toLowerCase().replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function enumLabel(e: Record<string, string | number>, value: number): string {
  const name = (e as Record<number, string>)[value];
  return name && value !== 0 ? words(name) : "—";
}

export function unitOf(value: WeightUnit | undefined): Unit {
  return value === WeightUnit.LB ? "lb" : "kg";
}

export function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export function daysAgo(n: number): string {
  const d = new Date(Date.now() - n * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export function formatTime(iso: string): string {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// -- small pieces -------------------------------------------------------------------------------

export function Field(props: { label: string; hint?: string; children: ReactNode; id: string }) {
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <small id={`${props.id}-hint`} className="hint">
          {props.hint}
        </small>
      )}
    </div>
  );
}

export function Badge(props: { tone?: "ok" | "warn" | "info" | "muted"; children: ReactNode }) {
  return <span className={`badge ${props.tone ?? "info"}`}>{props.children}</span>;
}

export function Screen(props: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <main id="main" tabIndex={-1} aria-labelledby="screen-title">
      <div className="screen-head">
        <h1 id="screen-title">{props.title}</h1>
        {props.actions}
      </div>
      {props.children}
    </main>
  );
}

export function Empty(props: { children: ReactNode }) {
  return <p className="empty">{props.children}</p>;
}
