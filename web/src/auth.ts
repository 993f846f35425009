// Who is signed in. With Supabase configured, Supabase Auth (email and password) gives the access
// token and refreshes it; in development a token minted by `make token` is pasted in, or arrives in
// the address (#token=...) that `make run` prints. The token itself is stored only in this
// browser; everything else the lifter has lives on the server.

import type { AppConfig } from "./config";
import { supabaseConfigured } from "./config";

const TOKEN_KEY = "ironpath.token";

export interface Identity {
  userId: string;
  email: string;
  /** Seconds since the epoch; 0 when the token has none. */
  expiresAt: number;
}

export function decodeToken(token: string): Identity | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(parts[1].length / 4) * 4, "="));
    const claims = JSON.parse(json) as { sub?: unknown; email?: unknown; exp?: unknown };
    if (typeof claims.sub !== "string" || !claims.sub) return null;
    return {
      userId: claims.sub,
      email: typeof claims.email === "string" ? claims.email : "",
      expiresAt: typeof claims.exp === "number" ? claims.exp : 0,
    };
  } catch {
    return null;
  }
}

export function isExpired(identity: Identity, now = Date.now()): boolean {
  return identity.expiresAt > 0 && identity.expiresAt * 1000 <= now;
}

type SupabaseClient = import("@supabase/supabase-js").SupabaseClient;

export class Auth {
  private tokenValue: string | null = null;
  private supabase: SupabaseClient | null = null;
  private readonly listeners = new Set<() => void>();
  identity: Identity | null = null;
  /** Set when the server refused the token: the lifter must sign in again. */
  rejected = false;

  constructor(private readonly config: AppConfig) {}

  get usesSupabase(): boolean {
    return supabaseConfigured(this.config);
  }

  token(): string | null {
    return this.rejected ? null : this.tokenValue;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }

  /** Restores a sign-in: a token in the address wins over the stored one. */
  async restore(): Promise<void> {
    const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (fromHash && this.config.allowDevTokens) {
      history.replaceState(null, "", location.pathname + location.search + "#/");
      this.useToken(decodeURIComponent(fromHash[1]));
      return;
    }
    if (this.usesSupabase) {
      const client = await this.client();
      const { data } = await client.auth.getSession();
      if (data.session) this.setToken(data.session.access_token, false);
      return;
    }
    const stored = localStorage.getItem(TOKEN_KEY);
    if (stored) this.setToken(stored, false);
  }

  /** Development sign-in with a pasted token. Returns an error message or null. */
  useToken(token: string): string | null {
    const identity = decodeToken(token);
    if (!identity) return "That is not a token (expected three dot-separated parts naming a user).";
    if (isExpired(identity)) return "That token has expired; mint a new one with `make token`.";
    localStorage.setItem(TOKEN_KEY, token.trim());
    this.setToken(token.trim(), true);
    return null;
  }

  async signInWithPassword(email: string, password: string): Promise<string | null> {
    const client = await this.client();
    const { data, error } = await client.auth.signInWithPassword({ email, password });
    if (error || !data.session) return error?.message ?? "Sign-in failed.";
    this.setToken(data.session.access_token, true);
    return null;
  }

  /** The server refused the token: back to sign-in, keeping everything queued. */
  reject(): void {
    if (this.rejected || !this.tokenValue) return;
    this.rejected = true;
    this.emit();
  }

  async signOut(): Promise<void> {
    localStorage.removeItem(TOKEN_KEY);
    if (this.supabase) await this.supabase.auth.signOut();
    this.tokenValue = null;
    this.identity = null;
    this.rejected = false;
    this.emit();
  }

  private setToken(token: string, fresh: boolean): void {
    const identity = decodeToken(token);
    if (!identity) return;
    this.tokenValue = token;
    this.identity = identity;
    this.rejected = !fresh && isExpired(identity);
    this.emit();
  }

  private async client(): Promise<SupabaseClient> {
    if (!this.supabase) {
      // Loaded only where Supabase is configured: it is most of the bundle otherwise.
      const { createClient } = await import("@supabase/supabase-js");
      this.supabase = createClient(this.config.supabaseUrl, this.config.supabaseAnonKey);
      this.supabase.auth.onAuthStateChange((_event, session) => {
        if (session) this.setToken(session.access_token, true);
      });
    }
    return this.supabase;
  }
}
