// The offline queue: every action that changes something on the server is stored here first
// (IndexedDB), with the request_id the server de-duplicates on and the time it happened, then
// sent in order. The screen shows queued actions at once; replays never double anything because
// the services answer a repeated request_id with the first response.
//
// Failures decide what happens next:
//   retry  (Unavailable, network errors, deadlines, rate limits): wait with exponential backoff,
//          keep the action at the head so later actions stay in order;
//   auth   (Unauthenticated): pause the queue, nothing is lost, resume after the next sign-in;
//   drop   (InvalidArgument, NotFound, Aborted, ...): sending again cannot help; the action
//          leaves the queue and the lifter is told why.

import { CACHE_STORE, QUEUE_STORE, inTransaction, openDatabase, requestToPromise } from "./idb";

export type ActionKind =
  | "completeSession"
  | "skipSession"
  | "submitFeedback"
  | "submitReadiness"
  | "performCheckIn"
  | "upsertProfile"
  | "generateProgram"
  | "importLegacy"
  | "deleteAccount";

export interface QueuedAction<P = unknown> {
  /** Position in the queue (IndexedDB auto-increment key); absent until stored. */
  seq?: number;
  /** Client-made UUID: the server's idempotency key. */
  requestId: string;
  /** The lifter (token subject) the action belongs to; only sent with that lifter's token. */
  userId: string;
  kind: ActionKind;
  payload: P;
  /** When the lifter did it (ISO), also sent as complete_time etc. */
  createdAt: string;
  attempts: number;
  lastError?: string;
}

export type Disposition = "retry" | "auth" | "drop";

export interface QueueStore {
  add(action: QueuedAction): Promise<QueuedAction>;
  /** Every stored action in queue order. */
  list(): Promise<QueuedAction[]>;
  put(action: QueuedAction): Promise<void>;
  remove(seq: number): Promise<void>;
}

export interface QueueOptions {
  store: QueueStore;
  /** Sends one action; resolves with the server's answer or throws. */
  send: (action: QueuedAction) => Promise<unknown>;
  classify: (error: unknown) => Disposition;
  /** The signed-in lifter: only their actions are sent; null pauses sending. */
  currentUser: () => string | null;
  /** Called with the answer before the action leaves the queue, so the screen never flickers. */
  onSent?: (action: QueuedAction, result: unknown) => void | Promise<void>;
  onDropped?: (action: QueuedAction, error: unknown) => void;
  onAuthNeeded?: (action: QueuedAction, error: unknown) => void;
  onChange?: (pending: QueuedAction[]) => void;
  /** Waits `ms`, or less when `wake` fires (connection back, manual retry). */
  sleep?: (ms: number, wake: AbortSignal) => Promise<void>;
  backoff?: { baseMs: number; maxMs: number; jitter: number };
  random?: () => number;
  /** Wraps a processing run, e.g. in a Web Lock so that only one tab sends. */
  exclusive?: <T>(run: () => Promise<T>) => Promise<T>;
}

const DEFAULT_BACKOFF = { baseMs: 500, maxMs: 30_000, jitter: 0.3 };

export function backoffDelay(
  attempts: number,
  backoff = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempts - 1));
  // Jitter spreads the retries of many clients; never below half the nominal delay.
  return Math.round(exponential * (1 - backoff.jitter * random()));
}

function defaultSleep(ms: number, wake: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (wake.aborted) return resolve();
    const timer = setTimeout(done, ms);
    wake.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      wake.removeEventListener("abort", done);
      resolve();
    }
  });
}

export class OfflineQueue {
  private readonly opts: QueueOptions;
  private pending: QueuedAction[] = [];
  private running: Promise<void> | null = null;
  private wake = new AbortController();
  private paused = false;
  private requested = false;
  private loaded: Promise<void> | null = null;
  /** Delays waited so far (for tests and for the "retrying in" hint). */
  readonly waits: number[] = [];
  nextRetryAt: number | null = null;

  constructor(opts: QueueOptions) {
    this.opts = opts;
  }

  /** Reads what an earlier page left in the store. */
  load(): Promise<void> {
    this.loaded ??= this.opts.store.list().then((actions) => {
      this.pending = actions;
      this.changed();
    });
    return this.loaded;
  }

  /** Actions not yet accepted by the server, in order (every lifter's). */
  all(): QueuedAction[] {
    return [...this.pending];
  }

  /** The signed-in lifter's waiting actions. */
  waiting(): QueuedAction[] {
    const user = this.opts.currentUser();
    return this.pending.filter((a) => a.userId === user);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Stores an action (it survives a reload from here on) and starts sending. */
  async enqueue<P>(
    kind: ActionKind,
    payload: P,
    options: { requestId?: string; createdAt?: string; userId?: string } = {},
  ): Promise<QueuedAction<P>> {
    await this.load();
    const userId = options.userId ?? this.opts.currentUser();
    if (!userId) throw new Error("sign in first");
    const action = await this.opts.store.add({
      requestId: options.requestId ?? crypto.randomUUID(),
      userId,
      kind,
      payload,
      createdAt: options.createdAt ?? new Date().toISOString(),
      attempts: 0,
    });
    // (A processing run may have read it from the store already.)
    if (!this.pending.some((a) => a.seq === action.seq)) this.pending.push(action);
    this.changed();
    this.kick();
    return action as QueuedAction<P>;
  }

  /** Sends now (a new action, an `online` event, a tap on "retry"); a paused queue stays paused. */
  kick(): void {
    this.wake.abort();
    this.wake = new AbortController();
    void this.flush();
  }

  /** Unpauses and sends: after the lifter signed in again. */
  resume(): void {
    this.paused = false;
    this.kick();
  }

  /** Stops sending until `resume` (used when the token was refused). */
  pause(): void {
    this.paused = true;
  }

  /** Resolves when sending has stopped (nothing left, paused, signed out). A call made while a run
   * is ending gets another run, so an action enqueued at that moment is never left behind. */
  flush(): Promise<void> {
    this.requested = true;
    if (!this.running) {
      const run = () => this.process();
      const exclusive = this.opts.exclusive;
      this.running = (async () => {
        while (this.requested) {
          this.requested = false;
          await (exclusive ? exclusive(run) : run());
        }
      })().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  /** Forgets a lifter's actions (their account was deleted, or they chose to discard). */
  async discard(userId: string): Promise<void> {
    await this.load();
    for (const action of this.pending.filter((a) => a.userId === userId)) {
      await this.opts.store.remove(action.seq!);
    }
    this.pending = this.pending.filter((a) => a.userId !== userId);
    this.changed();
  }

  private changed(): void {
    this.opts.onChange?.(this.all());
  }

  private async process(): Promise<void> {
    await this.load();
    // With several tabs the store is the truth: while this one waited for the lock, another may
    // have sent (and removed) actions, or stored new ones and been closed.
    if (this.opts.exclusive) {
      this.pending = await this.opts.store.list();
      this.changed();
    }
    for (;;) {
      if (this.paused) return;
      const user = this.opts.currentUser();
      if (!user) return;
      const action = this.pending.find((a) => a.userId === user);
      if (!action) return;
      let result: unknown;
      try {
        result = await this.opts.send(action);
      } catch (error) {
        const disposition = this.opts.classify(error);
        if (disposition === "auth") {
          this.paused = true;
          this.opts.onAuthNeeded?.(action, error);
          return;
        }
        if (disposition === "drop") {
          await this.removeAction(action);
          this.opts.onDropped?.(action, error);
          continue;
        }
        action.attempts += 1;
        action.lastError = error instanceof Error ? error.message : String(error);
        await this.opts.store.put(action);
        this.changed();
        const delay = backoffDelay(action.attempts, this.opts.backoff, this.opts.random);
        this.waits.push(delay);
        this.nextRetryAt = Date.now() + delay;
        await (this.opts.sleep ?? defaultSleep)(delay, this.wake.signal);
        this.nextRetryAt = null;
        continue;
      }
      await this.opts.onSent?.(action, result);
      await this.removeAction(action);
    }
  }

  private async removeAction(action: QueuedAction): Promise<void> {
    await this.opts.store.remove(action.seq!);
    this.pending = this.pending.filter((a) => a.seq !== action.seq);
    this.changed();
  }
}

/** The queue's IndexedDB store. */
export class IdbQueueStore implements QueueStore {
  private readonly db: Promise<IDBDatabase>;

  constructor(factory?: IDBFactory, name?: string) {
    this.db = openDatabase(factory, name);
  }

  async add(action: QueuedAction): Promise<QueuedAction> {
    const { seq: _ignored, ...row } = action;
    const seq = await inTransaction(await this.db, QUEUE_STORE, "readwrite", (s) => s.add(row));
    return { ...row, seq: seq as number };
  }

  async list(): Promise<QueuedAction[]> {
    const db = await this.db;
    const rows = await requestToPromise(db.transaction(QUEUE_STORE).objectStore(QUEUE_STORE).getAll());
    return (rows as QueuedAction[]).sort((a, b) => a.seq! - b.seq!);
  }

  async put(action: QueuedAction): Promise<void> {
    await inTransaction(await this.db, QUEUE_STORE, "readwrite", (s) => s.put(action));
  }

  async remove(seq: number): Promise<void> {
    await inTransaction(await this.db, QUEUE_STORE, "readwrite", (s) => s.delete(seq));
  }
}

/** The last answers from the server, so a reload without a connection still shows everything. */
export class IdbCache {
  private readonly db: Promise<IDBDatabase>;

  constructor(factory?: IDBFactory, name?: string) {
    this.db = openDatabase(factory, name);
  }

  async get<T>(key: string): Promise<T | undefined> {
    const db = await this.db;
    return (await requestToPromise(db.transaction(CACHE_STORE).objectStore(CACHE_STORE).get(key))) as T | undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    await inTransaction(await this.db, CACHE_STORE, "readwrite", (s) => s.put(value, key));
  }

  async clear(prefix: string): Promise<void> {
    const range = IDBKeyRange.bound(prefix, prefix + "\uffff");
    await inTransaction(await this.db, CACHE_STORE, "readwrite", (s) => s.delete(range));
  }
}
