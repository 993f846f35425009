import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { IdbQueueStore, OfflineQueue, backoffDelay, type QueuedAction, type QueueOptions } from "../../src/queue";
import { classify } from "../../src/rpc";

const ALICE = "11111111-1111-4111-8111-111111111111";
const BOB = "22222222-2222-4222-8222-222222222222";
const BACKOFF = { baseMs: 100, maxMs: 1_000, jitter: 0 };

interface Harness {
  queue: OfflineQueue;
  sent: QueuedAction[];
  dropped: [QueuedAction, unknown][];
  authNeeded: QueuedAction[];
  waits: number[];
  /** What the next sends do: throw one of these errors (in turn), or answer. */
  failures: unknown[];
  user: { id: string | null };
}

function offline(): ConnectError {
  // What fetch gives the transport with no connection: Unknown, "Failed to fetch".
  return new ConnectError("Failed to fetch", Code.Unknown);
}

function harness(factory: IDBFactory, overrides: Partial<QueueOptions> = {}, name = "test"): Harness {
  const h: Harness = { sent: [], dropped: [], authNeeded: [], waits: [], failures: [], user: { id: ALICE } } as unknown as Harness;
  h.queue = new OfflineQueue({
    store: new IdbQueueStore(factory, name),
    send: async (action) => {
      const failure = h.failures.shift();
      if (failure) throw failure;
      h.sent.push(structuredClone(action));
      return { ok: action.requestId };
    },
    classify,
    currentUser: () => h.user.id,
    onDropped: (action, error) => h.dropped.push([action, error]),
    onAuthNeeded: (action) => h.authNeeded.push(action),
    sleep: async (ms) => {
      h.waits.push(ms);
    },
    backoff: BACKOFF,
    ...overrides,
  });
  return h;
}

describe("the offline queue", () => {
  it("sends actions in the order they were made", async () => {
    const h = harness(new IDBFactory());
    await h.queue.enqueue("completeSession", { week: 1, day: 1 });
    await h.queue.enqueue("submitFeedback", { week: 1, day: 1 });
    await h.queue.enqueue("completeSession", { week: 1, day: 2 });
    await h.queue.flush();
    expect(h.sent.map((a) => [a.kind, a.payload])).toEqual([
      ["completeSession", { week: 1, day: 1 }],
      ["submitFeedback", { week: 1, day: 1 }],
      ["completeSession", { week: 1, day: 2 }],
    ]);
    expect(h.queue.waiting()).toEqual([]);
  });

  it("keeps each action's request id and time, made once when the lifter acted", async () => {
    const h = harness(new IDBFactory());
    const action = await h.queue.enqueue("completeSession", { week: 2, day: 1 }, { createdAt: "2025-01-02T03:04:05.000Z" });
    await h.queue.flush();
    expect(action.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.sent[0].requestId).toBe(action.requestId);
    expect(h.sent[0].createdAt).toBe("2025-01-02T03:04:05.000Z");
  });

  it("retries with exponential backoff on Unavailable and sends the same request again", async () => {
    const h = harness(new IDBFactory());
    h.failures.push(
      new ConnectError("upstream connect error", Code.Unavailable),
      new ConnectError("upstream connect error", Code.Unavailable),
      new ConnectError("upstream connect error", Code.Unavailable),
    );
    const action = await h.queue.enqueue("completeSession", { week: 1, day: 1 });
    await h.queue.flush();
    expect(h.waits).toEqual([100, 200, 400]);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0].requestId).toBe(action.requestId);
    expect(h.sent[0].attempts).toBe(3);
    expect(h.dropped).toEqual([]);
  });

  it("backs off up to a ceiling, with jitter never below half the delay", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, BACKOFF, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const jittered = backoffDelay(3, { baseMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0.999);
    expect(jittered).toBeGreaterThanOrEqual(200);
    expect(jittered).toBeLessThanOrEqual(400);
  });

  it("treats a lost connection (Unknown: Failed to fetch) as retryable and keeps later actions behind it", async () => {
    const h = harness(new IDBFactory());
    h.failures.push(offline(), offline());
    await h.queue.enqueue("completeSession", { week: 1, day: 1 });
    await h.queue.enqueue("completeSession", { week: 1, day: 2 });
    await h.queue.flush();
    expect(h.waits).toEqual([100, 200]);
    expect(h.sent.map((a) => a.payload)).toEqual([
      { week: 1, day: 1 },
      { week: 1, day: 2 },
    ]);
  });

  it("does not retry InvalidArgument: the action is dropped, reported, and the next one goes", async () => {
    const factory = new IDBFactory();
    const h = harness(factory);
    h.failures.push(new ConnectError("session_rpe: must be between 1 and 10", Code.InvalidArgument));
    const bad = await h.queue.enqueue("submitFeedback", { week: 1, day: 1, sessionRpe: 14 });
    await h.queue.enqueue("completeSession", { week: 1, day: 2 });
    await h.queue.flush();
    expect(h.waits).toEqual([]);
    expect(h.dropped.map(([a]) => a.requestId)).toEqual([bad.requestId]);
    expect(ConnectError.from(h.dropped[0][1]).code).toBe(Code.InvalidArgument);
    expect(h.sent.map((a) => a.payload)).toEqual([{ week: 1, day: 2 }]);
    expect(await new IdbQueueStore(factory, "test").list()).toEqual([]);
  });

  it("pauses on Unauthenticated without losing anything, and resumes after sign-in", async () => {
    const factory = new IDBFactory();
    const h = harness(factory);
    h.failures.push(new ConnectError("token expired", Code.Unauthenticated));
    const first = await h.queue.enqueue("completeSession", { week: 1, day: 1 });
    await h.queue.flush();
    expect(h.authNeeded.map((a) => a.requestId)).toEqual([first.requestId]);
    expect(h.queue.isPaused).toBe(true);
    // More work while signed out of the server's view: stored, not sent.
    await h.queue.enqueue("completeSession", { week: 1, day: 2 });
    await h.queue.flush();
    expect(h.sent).toEqual([]);
    expect((await new IdbQueueStore(factory, "test").list()).map((a) => a.payload)).toEqual([
      { week: 1, day: 1 },
      { week: 1, day: 2 },
    ]);
    h.queue.resume();
    await h.queue.flush();
    expect(h.sent.map((a) => a.requestId)[0]).toBe(first.requestId);
    expect(h.sent).toHaveLength(2);
  });

  it("survives a reload: a new page replays what the old one stored, in order, with the same ids", async () => {
    const factory = new IDBFactory();
    const before = harness(factory);
    // The connection is gone for the whole life of the first page.
    before.queue.pause();
    const made = [
      await before.queue.enqueue("completeSession", { week: 1, day: 1 }),
      await before.queue.enqueue("completeSession", { week: 1, day: 2 }),
      await before.queue.enqueue("completeSession", { week: 1, day: 3 }),
    ];
    expect(before.sent).toEqual([]);

    const after = harness(factory);
    await after.queue.load();
    expect(after.queue.waiting().map((a) => a.requestId)).toEqual(made.map((a) => a.requestId));
    after.queue.kick();
    await after.queue.flush();
    expect(after.sent.map((a) => [a.requestId, a.createdAt])).toEqual(made.map((a) => [a.requestId, a.createdAt]));
    expect(await new IdbQueueStore(factory, "test").list()).toEqual([]);
  });

  it("replays exactly once even when the answer is lost and the request is sent again", async () => {
    // The server's request_id idempotency makes the second send harmless: the queue sends the
    // same id, never a new one.
    const server = new Map<string, number>();
    let loseAnswer = true;
    const q = new OfflineQueue({
      store: new IdbQueueStore(new IDBFactory(), "lost"),
      send: async (action) => {
        server.set(action.requestId, (server.get(action.requestId) ?? 0) + 1);
        if (loseAnswer) {
          loseAnswer = false;
          throw new ConnectError("network error", Code.Unknown);
        }
        return {};
      },
      classify,
      currentUser: () => ALICE,
      sleep: async () => undefined,
      backoff: BACKOFF,
    });
    const action = await q.enqueue("completeSession", { week: 3, day: 1 });
    await q.flush();
    expect([...server.entries()]).toEqual([[action.requestId, 2]]);
    expect(q.waiting()).toEqual([]);
  });

  it("with several tabs, the one holding the lock also sends what another tab stored", async () => {
    const factory = new IDBFactory();
    let chain: Promise<unknown> = Promise.resolve();
    const exclusive = <T,>(run: () => Promise<T>): Promise<T> => {
      const next = chain.then(run);
      chain = next.catch(() => undefined);
      return next;
    };
    const open = harness(factory, { exclusive });
    await open.queue.load();
    const closing = harness(factory, { exclusive });
    closing.queue.pause(); // this tab is closed before it sends
    const left = await closing.queue.enqueue("completeSession", { week: 1, day: 1 });
    open.queue.kick();
    await open.queue.flush();
    expect(open.sent.map((a) => a.requestId)).toEqual([left.requestId]);
    expect(await new IdbQueueStore(factory, "test").list()).toEqual([]);
  });

  it("sends only the signed-in lifter's actions", async () => {
    const h = harness(new IDBFactory());
    await h.queue.enqueue("completeSession", { week: 1, day: 1 }, { userId: BOB });
    await h.queue.enqueue("completeSession", { week: 1, day: 2 });
    await h.queue.flush();
    expect(h.sent.map((a) => a.userId)).toEqual([ALICE]);
    expect(h.queue.all().map((a) => a.userId)).toEqual([BOB]);
    h.user.id = BOB;
    h.queue.kick();
    await h.queue.flush();
    expect(h.sent.map((a) => a.userId)).toEqual([ALICE, BOB]);
  });

  it("classifies the statuses the gateway and services answer", () => {
    expect(classify(new ConnectError("", Code.Unavailable))).toBe("retry");
    expect(classify(new ConnectError("Failed to fetch", Code.Unknown))).toBe("retry");
    expect(classify(new ConnectError("", Code.DeadlineExceeded))).toBe("retry");
    expect(classify(new ConnectError("", Code.ResourceExhausted))).toBe("retry");
    expect(classify(new ConnectError("", Code.Unauthenticated))).toBe("auth");
    expect(classify(new ConnectError("", Code.PermissionDenied))).toBe("auth");
    expect(classify(new ConnectError("", Code.InvalidArgument))).toBe("drop");
    expect(classify(new ConnectError("", Code.NotFound))).toBe("drop");
    expect(classify(new ConnectError("", Code.Aborted))).toBe("drop");
    expect(classify(new TypeError("Failed to fetch"))).toBe("retry");
  });
});
