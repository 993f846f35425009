// The app's state: the server's last answers (cached in IndexedDB so a reload without a
// connection shows them), the offline queue, the live stream of the open program, and the
// sign-in. Components read it with `useApp` and act through the methods here.

import { create, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { useSyncExternalStore } from "react";
import {
  sendAction,
  sessionKeyString,
  type CheckInPayload,
  type CompletePayload,
  type DeletePayload,
  type FeedbackPayload,
  type GeneratePayload,
  type ImportPayload,
  type ReadinessPayload,
  type SessionKey,
  type SkipPayload,
} from "./actions";
import { Auth, type Identity } from "./auth";
import { loadConfig, type AppConfig } from "./config";
import {
  ListCheckInsResponseSchema,
  SubmitReadinessCheckResponseSchema,
  SubmitWorkoutFeedbackResponseSchema,
  PerformCheckInResponseSchema,
  type CheckIn,
  type PerformCheckInResponse,
  type ReadinessCheck,
  type SubmitReadinessCheckResponse,
  type SubmitWorkoutFeedbackResponse,
} from "./gen/ironpath/feedback/v1/feedback_pb";
import {
  ExportFormat,
  GetProfileResponseSchema,
  GetProgramResponseSchema,
  LifterProfileSchema,
  ListMethodologiesResponseSchema,
  ListProgramsResponseSchema,
  ProgramView,
  type GenerateProgramResponse,
  type LifterProfile,
  type Methodology,
  type Program,
  type UpsertProfileResponse,
} from "./gen/ironpath/program/v1/program_pb";
import {
  GetProgramProgressResponseSchema,
  GetTrainingAnalyticsResponseSchema,
  ProgressView,
  type GetProgramProgressResponse,
  type GetTrainingAnalyticsResponse,
  type ImportLegacyProgressResponse,
  type MarkSessionCompleteResponse,
  type SessionLog,
  type SkipSessionResponse,
} from "./gen/ironpath/progress/v1/progress_pb";
import { findLegacyState, markLegacyOffered, type LegacyState } from "./legacy";
import { mergeLog } from "./overlay";
import { IdbCache, IdbQueueStore, OfflineQueue, backoffDelay, type ActionKind, type QueuedAction } from "./queue";
import { classify, codeOf, describe, isAuthError, makeClients, type Clients } from "./rpc";

export type Status = "idle" | "loading" | "loaded" | "notFound" | "unavailable" | "error";

export interface Notice {
  id: number;
  text: string;
  tone: "error" | "info";
}

export interface ProfileConflict {
  mine: LifterProfile;
  theirs: LifterProfile | null;
}

export interface AppState {
  phase: "starting" | "signedOut" | "signedIn";
  identity: Identity | null;
  /** The server refused the token: sign in again (the queue waits). */
  authRejected: boolean;
  online: boolean;
  profile: LifterProfile | null;
  profileStatus: Status;
  methodologies: Methodology[];
  programs: Program[];
  programsStatus: Status;
  programId: string | null;
  program: Program | null;
  programStatus: Status;
  progress: GetProgramProgressResponse | null;
  checkIns: CheckIn[];
  analytics: GetTrainingAnalyticsResponse | null;
  analyticsStatus: Status;
  /** Feedback answers (adjustments and reasons) by session. */
  feedback: Record<string, SubmitWorkoutFeedbackResponse>;
  /** Readiness answers by session (or by date when no session was named). */
  readiness: Record<string, ReadinessCheck>;
  lastCheckIn: CheckIn | null;
  pending: QueuedAction[];
  notices: Notice[];
  conflict: ProfileConflict | null;
  live: "off" | "connecting" | "live" | "retrying";
  legacy: LegacyState | null;
  importResult: ImportLegacyProgressResponse | null;
  /** Set once a program generated from this page arrives; the Generate screen opens it. */
  generatedProgramId: string | null;
  accountDeleted: boolean;
}

const INITIAL: AppState = {
  phase: "starting",
  identity: null,
  authRejected: false,
  online: typeof navigator === "undefined" ? true : navigator.onLine,
  profile: null,
  profileStatus: "idle",
  methodologies: [],
  programs: [],
  programsStatus: "idle",
  programId: null,
  program: null,
  programStatus: "idle",
  progress: null,
  checkIns: [],
  analytics: null,
  analyticsStatus: "idle",
  feedback: {},
  readiness: {},
  lastCheckIn: null,
  pending: [],
  notices: [],
  conflict: null,
  live: "off",
  legacy: null,
  importResult: null,
  generatedProgramId: null,
  accountDeleted: false,
};

const CURRENT_PROGRAM_KEY = "ironpath.currentProgram";
const CALL = { timeoutMs: 15_000 };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

export class AppStore {
  state: AppState = INITIAL;
  config!: AppConfig;
  auth!: Auth;
  clients!: Clients;
  queue!: OfflineQueue;
  private cache!: IdbCache;
  private readonly listeners = new Set<() => void>();
  private watchAbort: AbortController | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private noticeId = 0;
  private rereadTimer: ReturnType<typeof setTimeout> | null = null;
  private rereadFailures = 0;
  /** Profile etags replaced by this page's own queued edits (old etag → new etag). */
  private readonly etagChain = new Map<string, string>();

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getState = (): AppState => this.state;

  private set(patch: Partial<AppState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }

  private get userId(): string | null {
    return this.state.identity?.userId ?? null;
  }

  // -- start and sign-in --------------------------------------------------------------------

  async start(): Promise<void> {
    this.config = await loadConfig();
    this.auth = new Auth(this.config);
    this.cache = new IdbCache();
    this.clients = makeClients(this.config.gatewayUrl, () => this.auth.token(), () => this.auth.reject());
    this.queue = new OfflineQueue({
      store: new IdbQueueStore(),
      send: (action) => sendAction(this.clients, this.withCurrentEtag(action)),
      classify,
      currentUser: () => (this.auth.rejected ? null : this.userId),
      onSent: (action, result) => this.applySent(action, result),
      onDropped: (action, error) => this.applyDropped(action, error),
      onAuthNeeded: () => this.auth.reject(),
      onChange: (pending) => this.set({ pending }),
      // Only one tab sends; the others see the queue shrink.
      exclusive: typeof navigator !== "undefined" && navigator.locks
        ? (run) => navigator.locks.request("ironpath-queue", run)
        : undefined,
    });
    window.addEventListener("online", () => {
      this.set({ online: true });
      this.queue.kick();
      if (this.rereadTimer) void this.reread();
    });
    window.addEventListener("offline", () => this.set({ online: false }));
    this.auth.subscribe(() => this.onAuthChanged());
    await this.queue.load();
    await this.auth.restore();
    if (!this.auth.identity) this.set({ phase: "signedOut" });
  }

  private onAuthChanged(): void {
    const identity = this.auth.identity;
    if (!identity) {
      this.stopWatching();
      this.set({
        ...INITIAL,
        phase: "signedOut",
        pending: this.queue.all(),
        online: this.state.online,
        accountDeleted: this.state.accountDeleted,
      });
      return;
    }
    if (this.auth.rejected) {
      this.queue.pause();
      this.stopWatching();
      this.set({ authRejected: true, identity });
      return;
    }
    const sameUser = this.state.identity?.userId === identity.userId;
    this.set({ phase: "signedIn", identity, authRejected: false, accountDeleted: false });
    // The same lifter signing in again (a refused token replaced): read everything afresh.
    if (!sameUser) void this.loadEverything();
    else void this.reread();
    this.queue.resume();
  }

  /** The cached copies at once, then the server's. */
  private async loadEverything(): Promise<void> {
    const user = this.userId!;
    // What this browser already knows, at once (works offline).
    const [profile, methodologies, programs, feedback, readiness] = await Promise.all([
      this.cached(user, "profile", GetProfileResponseSchema),
      this.cached(user, "methodologies", ListMethodologiesResponseSchema),
      this.cached(user, "programs", ListProgramsResponseSchema),
      this.cachedMap(user, "feedback", SubmitWorkoutFeedbackResponseSchema),
      this.cachedMap(user, "readiness", SubmitReadinessCheckResponseSchema),
    ]);
    this.set({
      profile: profile?.profile ?? null,
      profileStatus: profile ? "loaded" : "loading",
      methodologies: methodologies?.methodologies ?? [],
      programs: programs?.programs ?? [],
      programsStatus: programs ? "loaded" : "loading",
      feedback: Object.fromEntries(Object.entries(feedback)),
      readiness: Object.fromEntries(Object.entries(readiness).map(([k, v]) => [k, v.readinessCheck!])),
      legacy: findLegacyState(user),
    });
    const remembered = localStorage.getItem(`${CURRENT_PROGRAM_KEY}.${user}`);
    if (remembered && !this.state.programId) void this.openProgram(remembered);
    await Promise.all([this.refreshAccount(), this.refreshProfile(), this.refreshMethodologies(), this.refreshPrograms()]);
    if (!this.state.programId && this.state.programs.length) {
      void this.openProgram(this.state.programs[0].programId);
    }
  }

  // -- reads ----------------------------------------------------------------------------------

  private async read<T>(what: string, call: () => Promise<T>): Promise<T | null> {
    try {
      const result = await call();
      if (!this.state.online) this.set({ online: true });
      return result;
    } catch (error) {
      if (isAuthError(error)) return null;
      const code = codeOf(error);
      console.warn(`${what}: read failed`, code, describe(error));
      if (code === Code.Unknown || code === Code.Unavailable || code === Code.DeadlineExceeded || code === Code.ResourceExhausted) {
        if (this.state.online && !navigator.onLine) this.set({ online: false });
        this.scheduleReread();
      } else if (code !== Code.NotFound && code !== Code.Unimplemented) {
        this.notify(`${what}: ${describe(error)}`, "error");
      }
      throw error;
    }
  }

  /** A read that failed for want of a connection is made again, with backoff, and at `online`. */
  private scheduleReread(): void {
    if (this.rereadTimer) return;
    this.rereadFailures += 1;
    const delay = backoffDelay(this.rereadFailures, { baseMs: 1_000, maxMs: 30_000, jitter: 0.3 });
    this.rereadTimer = setTimeout(() => void this.reread(), delay);
  }

  private async reread(): Promise<void> {
    if (this.rereadTimer) clearTimeout(this.rereadTimer);
    this.rereadTimer = null;
    if (!this.userId || this.auth.rejected) return;
    const before = this.rereadFailures;
    await Promise.all([this.refreshProfile(), this.refreshMethodologies(), this.refreshPrograms()]);
    if (this.state.programId) await this.openProgram(this.state.programId, true);
    // Nothing failed again: start the next round of backoff from the beginning.
    if (!this.rereadTimer && this.rereadFailures === before) this.rereadFailures = 0;
  }

  private async refreshAccount(): Promise<void> {
    // GetMe creates the account on the first call.
    await this.read("Account", () => this.clients.program.getMe({}, CALL)).catch(() => null);
  }

  async refreshProfile(): Promise<void> {
    const user = this.userId!;
    try {
      const reply = await this.read("Profile", () => this.clients.program.getProfile({}, CALL));
      if (!reply) return;
      this.set({ profile: reply.profile ?? null, profileStatus: "loaded" });
      await this.store(user, "profile", GetProfileResponseSchema, reply);
    } catch (error) {
      if (codeOf(error) === Code.NotFound) this.set({ profile: null, profileStatus: "notFound" });
      else if (this.state.profileStatus === "loading") this.set({ profileStatus: "error" });
    }
  }

  private async refreshMethodologies(): Promise<void> {
    const user = this.userId!;
    const reply = await this.read("Methodologies", () =>
      this.clients.program.listMethodologies({ pageSize: 50 }, CALL),
    ).catch(() => null);
    if (!reply) return;
    this.set({ methodologies: reply.methodologies });
    await this.store(user, "methodologies", ListMethodologiesResponseSchema, reply);
  }

  async refreshPrograms(): Promise<void> {
    const user = this.userId!;
    const reply = await this.read("Programs", () => this.clients.program.listPrograms({ pageSize: 50 }, CALL)).catch(
      () => null,
    );
    if (!reply) {
      if (this.state.programsStatus === "loading") this.set({ programsStatus: "error" });
      return;
    }
    this.set({ programs: reply.programs, programsStatus: "loaded" });
    await this.store(user, "programs", ListProgramsResponseSchema, reply);
  }

  /** Opens a program: the cached copy at once, then the server's, then live updates. */
  async openProgram(programId: string, force = false): Promise<void> {
    const user = this.userId;
    if (!user) return;
    if (this.state.programId === programId && !force && this.state.programStatus !== "error") return;
    const switching = this.state.programId !== programId;
    if (switching) {
      this.stopWatching();
      const [program, progress, checkIns] = await Promise.all([
        this.cached(user, `program:${programId}`, GetProgramResponseSchema),
        this.cached(user, `progress:${programId}`, GetProgramProgressResponseSchema),
        this.cached(user, `checkins:${programId}`, ListCheckInsResponseSchema),
      ]);
      this.set({
        programId,
        program: program?.program ?? null,
        programStatus: program ? "loaded" : "loading",
        progress: progress ?? null,
        checkIns: checkIns?.checkIns ?? [],
        analytics: null,
        analyticsStatus: "idle",
        lastCheckIn: null,
      });
    }
    try {
      const reply = await this.read("Program", () =>
        this.clients.program.getProgram({ programId, view: ProgramView.FULL }, CALL),
      );
      if (!reply || this.state.programId !== programId) return;
      this.set({ program: reply.program ?? null, programStatus: "loaded" });
      localStorage.setItem(`${CURRENT_PROGRAM_KEY}.${user}`, programId);
      await this.store(user, `program:${programId}`, GetProgramResponseSchema, reply);
    } catch (error) {
      if (this.state.programId !== programId) return;
      if (codeOf(error) === Code.NotFound) {
        // Someone else's program answers exactly like a missing one: show nothing of it.
        this.set({ program: null, progress: null, checkIns: [], programStatus: "notFound" });
        if (localStorage.getItem(`${CURRENT_PROGRAM_KEY}.${user}`) === programId) {
          localStorage.removeItem(`${CURRENT_PROGRAM_KEY}.${user}`);
        }
        return;
      }
      if (!this.state.program) this.set({ programStatus: "error" });
    }
    this.startWatching(programId);
    await Promise.all([this.refreshProgress(programId), this.refreshCheckIns(programId)]);
  }

  async refreshProgress(programId = this.state.programId): Promise<void> {
    const user = this.userId;
    if (!programId || !user) return;
    const reply = await this.read("Progress", () =>
      this.clients.progress.getProgramProgress({ programId, view: ProgressView.FULL }, CALL),
    ).catch(() => null);
    if (!reply || this.state.programId !== programId) return;
    this.set({ progress: reply });
    await this.store(user, `progress:${programId}`, GetProgramProgressResponseSchema, reply);
  }

  async refreshCheckIns(programId = this.state.programId): Promise<void> {
    const user = this.userId;
    if (!programId || !user) return;
    const reply = await this.read("Check-ins", () =>
      this.clients.feedback.listCheckIns({ programId, pageSize: 20 }, CALL),
    ).catch(() => null);
    if (!reply || this.state.programId !== programId) return;
    this.set({ checkIns: reply.checkIns });
    await this.store(user, `checkins:${programId}`, ListCheckInsResponseSchema, reply);
  }

  async refreshAnalytics(programId = this.state.programId): Promise<void> {
    const user = this.userId;
    if (!programId || !user) return;
    this.set({ analyticsStatus: this.state.analytics ? "loaded" : "loading" });
    const cached = await this.cached(user, `analytics:${programId}`, GetTrainingAnalyticsResponseSchema);
    if (cached && !this.state.analytics) this.set({ analytics: cached, analyticsStatus: "loaded" });
    try {
      const reply = await this.read("Analytics", () =>
        this.clients.progress.getTrainingAnalytics({ programId }, CALL),
      );
      if (!reply || this.state.programId !== programId) return;
      this.set({ analytics: reply, analyticsStatus: "loaded" });
      await this.store(user, `analytics:${programId}`, GetTrainingAnalyticsResponseSchema, reply);
    } catch (error) {
      if (codeOf(error) === Code.Unimplemented) this.set({ analyticsStatus: "unavailable" });
      else if (!this.state.analytics) this.set({ analyticsStatus: "error" });
    }
  }

  /** Everything the lifter has, as a file (a server stream of chunks). */
  async exportData(format: ExportFormat): Promise<{ blob: Blob; fileName: string }> {
    const parts: Uint8Array<ArrayBuffer>[] = [];
    let contentType = format === ExportFormat.STRONG_CSV ? "text/csv" : "application/json";
    let fileName = format === ExportFormat.STRONG_CSV ? "ironpath-export.csv" : "ironpath-export.json";
    for await (const chunk of this.clients.account.exportMyData({ format }, { timeoutMs: 60_000 })) {
      if (chunk.contentType) contentType = chunk.contentType;
      if (chunk.fileName) fileName = chunk.fileName;
      parts.push(new Uint8Array(chunk.data));
    }
    return { blob: new Blob(parts, { type: contentType }), fileName };
  }

  // -- live sync --------------------------------------------------------------------------------

  private startWatching(programId: string): void {
    if (this.watchAbort) return;
    const abort = new AbortController();
    this.watchAbort = abort;
    void this.watch(programId, abort.signal);
  }

  private stopWatching(): void {
    this.watchAbort?.abort();
    this.watchAbort = null;
    if (this.state.live !== "off") this.set({ live: "off" });
  }

  private async watch(programId: string, signal: AbortSignal): Promise<void> {
    let failures = 0;
    let connectedBefore = false;
    while (!signal.aborted) {
      this.set({ live: failures ? "retrying" : "connecting" });
      try {
        // No deadline: the stream lives until the page leaves the program; keep-alives keep it open.
        for await (const message of this.clients.progress.watchProgress({ programId }, { signal })) {
          if (this.state.live !== "live") {
            this.set({ live: "live" });
            // Changes made while we were disconnected arrive with a full read.
            if (connectedBefore || failures) void this.refreshProgress(programId);
            connectedBefore = true;
            failures = 0;
          }
          if (message.event.case === "logChanged") this.applyLiveLog(programId, message.event.value);
        }
      } catch (error) {
        if (signal.aborted) return;
        const code = codeOf(error);
        if (code === Code.NotFound || isAuthError(error)) {
          this.set({ live: "off" });
          if (this.watchAbort?.signal === signal) this.watchAbort = null;
          return;
        }
      }
      failures += 1;
      this.set({ live: "retrying" });
      await sleep(backoffDelay(failures, { baseMs: 250, maxMs: 10_000, jitter: 0.3 }), signal);
    }
  }

  private applyLiveLog(programId: string, log: SessionLog): void {
    if (this.state.programId !== programId) return;
    const progress = this.state.progress;
    if (progress) this.set({ progress: { ...progress, logs: mergeLog(progress.logs, log) } });
    // Adjusted prescriptions of later sessions come only with the full view: read it shortly.
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refreshProgress(programId), 400);
  }

  // -- actions (all through the queue) ---------------------------------------------------------

  private enqueue<P>(kind: ActionKind, payload: P, createdAt?: string): Promise<QueuedAction<P>> {
    return this.queue.enqueue(kind, payload, { createdAt });
  }

  completeSession(payload: CompletePayload): Promise<QueuedAction<CompletePayload>> {
    return this.enqueue("completeSession", payload);
  }

  skipSession(payload: SkipPayload): Promise<QueuedAction<SkipPayload>> {
    return this.enqueue("skipSession", payload);
  }

  submitFeedback(payload: FeedbackPayload): Promise<QueuedAction<FeedbackPayload>> {
    return this.enqueue("submitFeedback", payload);
  }

  submitReadiness(payload: ReadinessPayload): Promise<QueuedAction<ReadinessPayload>> {
    return this.enqueue("submitReadiness", payload);
  }

  performCheckIn(payload: CheckInPayload): Promise<QueuedAction<CheckInPayload>> {
    return this.enqueue("performCheckIn", payload);
  }

  generateProgram(payload: GeneratePayload): Promise<QueuedAction<GeneratePayload>> {
    this.set({ generatedProgramId: null });
    return this.enqueue("generateProgram", payload);
  }

  importLegacy(payload: ImportPayload): Promise<QueuedAction<ImportPayload>> {
    markLegacyOffered(this.userId!);
    this.set({ legacy: null, importResult: null });
    return this.enqueue("importLegacy", payload);
  }

  dismissImport(): void {
    this.set({ importResult: null });
  }

  declineLegacy(): void {
    markLegacyOffered(this.userId!);
    this.set({ legacy: null });
  }

  deleteAccount(payload: DeletePayload): Promise<QueuedAction<DeletePayload>> {
    return this.enqueue("deleteAccount", payload);
  }

  /** Saves the profile (optimistically shown); `etag` is the one the form was read with. */
  saveProfile(profile: LifterProfile, etag: string): Promise<QueuedAction> {
    this.set({ profile: { ...profile, etag: this.state.profile?.etag ?? "" }, conflict: null });
    return this.enqueue("upsertProfile", { profile: toJson(LifterProfileSchema, profile), etag });
  }

  /** The lifter chose in a conflict: theirs (keep the server's) or mine (save over it). */
  resolveConflict(choice: "mine" | "theirs"): void {
    const conflict = this.state.conflict;
    if (!conflict) return;
    if (choice === "theirs") {
      this.set({ conflict: null, profile: conflict.theirs });
    } else {
      void this.saveProfile(conflict.mine, conflict.theirs?.etag ?? "");
    }
  }

  dismissNotice(id: number): void {
    this.set({ notices: this.state.notices.filter((n) => n.id !== id) });
  }

  notify(text: string, tone: Notice["tone"] = "info"): void {
    this.noticeId += 1;
    this.set({ notices: [...this.state.notices, { id: this.noticeId, text, tone }].slice(-5) });
  }

  async signOut(): Promise<void> {
    this.stopWatching();
    await this.auth.signOut();
  }

  retryNow(): void {
    this.queue.kick();
  }

  /** A queued profile edit made on top of an earlier queued edit carries the etag that edit got. */
  private withCurrentEtag(action: QueuedAction): QueuedAction {
    if (action.kind !== "upsertProfile") return action;
    const payload = action.payload as { etag: string };
    let etag = payload.etag;
    const seen = new Set<string>();
    while (this.etagChain.has(etag) && !seen.has(etag)) {
      seen.add(etag);
      etag = this.etagChain.get(etag)!;
    }
    return etag === payload.etag ? action : { ...action, payload: { ...payload, etag } };
  }

  private async applySent(action: QueuedAction, result: unknown): Promise<void> {
    const user = action.userId;
    switch (action.kind) {
      case "completeSession":
      case "skipSession": {
        const log = (result as MarkSessionCompleteResponse | SkipSessionResponse).log;
        const p = action.payload as SessionKey;
        if (log && this.state.progress && this.state.programId === p.programId) {
          const progress = { ...this.state.progress, logs: mergeLog(this.state.progress.logs, log) };
          this.set({ progress });
          await this.store(user, `progress:${p.programId}`, GetProgramProgressResponseSchema, progress);
        }
        break;
      }
      case "submitFeedback": {
        const reply = result as SubmitWorkoutFeedbackResponse;
        const key = sessionKeyString(action.payload as SessionKey);
        this.set({ feedback: { ...this.state.feedback, [key]: reply } });
        await this.storeMapEntry(user, "feedback", key, SubmitWorkoutFeedbackResponseSchema, reply);
        void this.refreshProgress((action.payload as SessionKey).programId);
        break;
      }
      case "submitReadiness": {
        const reply = result as SubmitReadinessCheckResponse;
        const p = action.payload as ReadinessPayload;
        const key = p.session ? sessionKeyString(p.session) : p.date;
        if (reply.readinessCheck) this.set({ readiness: { ...this.state.readiness, [key]: reply.readinessCheck } });
        await this.storeMapEntry(user, "readiness", key, SubmitReadinessCheckResponseSchema, reply);
        break;
      }
      case "performCheckIn": {
        const reply = result as PerformCheckInResponse;
        const checkIn = reply.checkIn;
        if (checkIn && this.state.programId === checkIn.programId) {
          const others = this.state.checkIns.filter((c) => c.checkInId !== checkIn.checkInId);
          this.set({ lastCheckIn: checkIn, checkIns: [checkIn, ...others] });
        }
        await this.store(user, "lastCheckIn", PerformCheckInResponseSchema, reply);
        break;
      }
      case "upsertProfile": {
        const reply = result as UpsertProfileResponse;
        const sentEtag = this.withCurrentEtag(action).payload as { etag: string };
        if (reply.profile) {
          this.etagChain.set(sentEtag.etag, reply.profile.etag);
          const later = this.queue.waiting().some((a) => a.kind === "upsertProfile" && a.seq !== action.seq);
          // A later queued edit is still to come: keep showing it rather than this one.
          if (!later) this.set({ profile: reply.profile, profileStatus: "loaded" });
          await this.store(user, "profile", GetProfileResponseSchema, create(GetProfileResponseSchema, { profile: reply.profile }));
        }
        break;
      }
      case "generateProgram": {
        const program = (result as GenerateProgramResponse).program;
        if (program) {
          this.set({ generatedProgramId: program.programId, programs: [program, ...this.state.programs] });
          void this.refreshPrograms();
        }
        break;
      }
      case "importLegacy":
        this.set({ importResult: result as ImportLegacyProgressResponse });
        void this.refreshProgress((action.payload as ImportPayload).programId);
        break;
      case "deleteAccount":
        await this.cache.clear(`${user}:`);
        await this.queue.discard(user);
        localStorage.removeItem(`${CURRENT_PROGRAM_KEY}.${user}`);
        this.set({ accountDeleted: true });
        await this.auth.signOut();
        break;
    }
  }

  private applyDropped(action: QueuedAction, error: unknown): void {
    const code = codeOf(error);
    if (action.kind === "upsertProfile" && code === Code.Aborted) {
      // Changed on another device since this one read it: show both, let the lifter choose.
      const mine = (action.payload as { profile: unknown }).profile;
      void this.clients.program
        .getProfile({}, CALL)
        .then((reply) => reply.profile ?? null)
        .catch(() => null)
        .then((theirs) => {
          const mineProfile = fromJson(LifterProfileSchema, mine as JsonValue);
          this.set({ conflict: { mine: mineProfile, theirs }, profile: theirs ?? this.state.profile });
        });
      return;
    }
    const what: Record<ActionKind, string> = {
      completeSession: "Completing a session",
      skipSession: "Skipping a session",
      submitFeedback: "Feedback",
      submitReadiness: "The readiness check",
      performCheckIn: "The check-in",
      upsertProfile: "Saving the profile",
      generateProgram: "Generating the program",
      importLegacy: "Importing old progress",
      deleteAccount: "Deleting the account",
    };
    this.notify(`${what[action.kind]} was refused: ${describe(error)}`, "error");
    if (action.kind === "upsertProfile") void this.refreshProfile();
    if (action.kind === "completeSession" || action.kind === "skipSession" || action.kind === "submitFeedback") {
      void this.refreshProgress((action.payload as SessionKey).programId);
    }
  }

  // -- cache ----------------------------------------------------------------------------------

  private async cached<D extends DescMessage>(user: string, key: string, schema: D): Promise<MessageShape<D> | null> {
    try {
      const bytes = await this.cache.get<Uint8Array>(`${user}:${key}`);
      return bytes ? fromBinary(schema, bytes) : null;
    } catch {
      return null;
    }
  }

  private async store<D extends DescMessage>(user: string, key: string, schema: D, value: MessageShape<D>): Promise<void> {
    try {
      await this.cache.set(`${user}:${key}`, toBinary(schema, value));
    } catch (error) {
      console.warn("cache write failed", error);
    }
  }

  private async cachedMap<D extends DescMessage>(user: string, key: string, schema: D): Promise<Record<string, MessageShape<D>>> {
    const raw = (await this.cache.get<Record<string, Uint8Array>>(`${user}:${key}`).catch(() => undefined)) ?? {};
    return Object.fromEntries(Object.entries(raw).map(([k, bytes]) => [k, fromBinary(schema, bytes)]));
  }

  private async storeMapEntry<D extends DescMessage>(
    user: string,
    key: string,
    entry: string,
    schema: D,
    value: MessageShape<D>,
  ): Promise<void> {
    const raw = (await this.cache.get<Record<string, Uint8Array>>(`${user}:${key}`).catch(() => undefined)) ?? {};
    raw[entry] = toBinary(schema, value);
    await this.cache.set(`${user}:${key}`, raw).catch(() => undefined);
  }
}

export const app = new AppStore();

export function useApp(): AppState {
  return useSyncExternalStore(app.subscribe, app.getState);
}
