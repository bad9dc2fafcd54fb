// Two flow controls sharing one real Redis behave as one: limits, users and keys are shared; Redis going away
// and coming back neither crashes nor loses requests; fail-closed refuses instead.
import { expect } from "chai";
import { pino } from "pino";
import type { FlowRequest } from "../../../../router/flow-control/control.js";
import { createFlowControl, type FlowControlService } from "../../../../router/flow-control/index.js";
import { freePort, startRedis, type RunningRedis } from "../../../support/redis-server.js";

const silent = pino({ level: "silent" });
let seq = 0;
const req = (over: Partial<FlowRequest> = {}): FlowRequest => ({
  id: `r${seq++}`,
  model: "m",
  promptTokens: 10,
  headers: {},
  ...over,
});
const sig = () => new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(20);
  }
}

describe("flow control shared through Redis", function () {
  this.timeout(30_000);
  let redis: RunningRedis;
  let a: FlowControlService;
  let b: FlowControlService;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await a?.close();
    await b?.close();
  });

  async function pair(extra: Parameters<typeof createFlowControl>[0] = {}) {
    const prefix = `t${seq++}:`;
    a = await createFlowControl({
      redisUrl: redis.url,
      logger: silent,
      keyPrefix: prefix,
      userCacheTtlMs: 0,
      ...extra,
    });
    b = await createFlowControl({
      redisUrl: redis.url,
      logger: silent,
      keyPrefix: prefix,
      userCacheTtlMs: 0,
      ...extra,
    });
    expect(a.redisUp() && b.redisUp()).to.equal(true);
  }

  it("enforces one user's RPM exactly across two replicas under concurrent load", async () => {
    await pair();
    await a.users.put({ name: "shared-rpm", rpm: 50, tpm: null, keys: [] });
    const both = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).control.acquire(req({ user: "shared-rpm" }), sig())),
    );
    const ok = both.filter((d) => d.ok).length;
    expect(ok).to.equal(50);
    const refusedOnEach = [a, b].map(() => 0);
    both.forEach((d, i) => {
      if (!d.ok) refusedOnEach[i % 2]!++;
    });
    expect(refusedOnEach.every((n) => n > 0)).to.equal(true);
  });

  it("shares TPM: tokens streamed on one replica count on the other", async () => {
    await pair();
    await a.users.put({ name: "shared-tpm", rpm: null, tpm: 500, keys: [] });
    const da = await a.control.acquire(req({ user: "shared-tpm", promptTokens: 100 }), sig());
    if (!da.ok) throw new Error("refused");
    da.ticket.onCompletionTokens(300);
    await sleep(50);
    const db = await b.control.acquire(req({ user: "shared-tpm", promptTokens: 150 }), sig());
    expect(db.ok).to.equal(false);
    const dc = await b.control.acquire(req({ user: "shared-tpm", promptTokens: 100 }), sig());
    expect(dc.ok).to.equal(true);
    da.ticket.finish({ status: 200, usage: { prompt_tokens: 100, completion_tokens: 300 } });
  });

  it("shares per-model concurrency: a slot freed on one replica admits a request waiting on the other", async () => {
    await pair({ limits: { models: { m: { concurrency: 1 } } }, fairness: { retryMs: 10 } });
    const first = await a.control.acquire(req(), sig());
    if (!first.ok) throw new Error("refused");
    let done = false;
    const waiting = b.control.acquire(req(), sig()).then((d) => {
      done = true;
      return d;
    });
    await sleep(60);
    expect(done).to.equal(false);
    first.ticket.finish({ status: 200 });
    const d = await waiting;
    expect(d.ok).to.equal(true);
    if (d.ok) d.ticket.finish({ status: 200 });
  });

  it("keeps serving with its share of each limit while Redis is down, says so, and replays it when Redis returns", async () => {
    await pair();
    await a.users.put({ name: "outage", rpm: 5, tpm: null, keys: [] });
    await waitFor(() => a.sharingReplicas() === 2 && b.sharingReplicas() === 2);
    // Warm the user caches so the record survives the outage; each admission is mirrored locally.
    for (const x of [a, b]) {
      const d = await x.control.acquire(req({ user: "outage" }), sig());
      expect(d.ok).to.equal(true);
    }
    await redis.stop();
    await waitFor(() => !a.redisUp() && !b.redisUp());
    const during = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).control.acquire(req({ user: "outage" }), sig())),
    );
    // Every request got an answer; each replica enforces ⌈5 / 2⌉ = 3 on the window it mirrored (1 already used), so
    // the two together admit the limit, not twice it.
    expect(during.filter((d) => d.ok).length).to.equal(4);
    const metrics = await a.registry.metrics();
    expect(metrics).to.match(/aibrix_router_redis_up 0/);
    expect(metrics).to.match(/aibrix_router_redis_fallbacks_total\{mode="open"\} \d+/);
    expect(a.pendingReplay()).to.be.above(0);

    await redis.restart(); // empty: no persistence
    await waitFor(() => a.redisUp() && b.redisUp(), 10_000);
    await a.users.put({ name: "outage", rpm: 5, tpm: null, keys: [] });
    await waitFor(() => a.pendingReplay() === 0 && b.pendingReplay() === 0);
    // The outage's 4 admissions are back in the shared window: 1 more fits.
    const after = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).control.acquire(req({ user: "outage" }), sig())),
    );
    expect(after.filter((d) => d.ok).length).to.equal(1);
    expect(await a.registry.metrics()).to.match(/aibrix_router_redis_up 1/);
  });

  it("treats a Redis that stops answering (connection open) as down, then notices when it answers again", async () => {
    await pair({ redisCommandTimeoutMs: 100 });
    const { Redis } = await import("ioredis");
    const admin = new Redis(redis.url);
    try {
      await a.users.put({ name: "paused", rpm: 1000, tpm: null, keys: [] });
      expect((await a.control.acquire(req({ user: "paused" }), sig())).ok).to.equal(true); // cached from here on
      await admin.call("CLIENT", "PAUSE", "1200", "ALL");
      const during = await Promise.all(
        Array.from({ length: 6 }, () => a.control.acquire(req({ user: "paused" }), sig())),
      );
      expect(during.every((d) => d.ok)).to.equal(true);
      expect(a.redisUp()).to.equal(false);
      await waitFor(() => a.redisUp(), 5000);
    } finally {
      admin.disconnect();
    }
  });

  it("starts without Redis (fail-open), serves, and switches to shared limits once Redis appears", async () => {
    const port = await freePort();
    const lonely = await createFlowControl({ redisUrl: `redis://127.0.0.1:${port}`, logger: silent });
    let late: RunningRedis | undefined;
    try {
      expect(lonely.redisUp()).to.equal(false);
      expect((await lonely.control.acquire(req({ user: "early" }), sig())).ok).to.equal(true);
      late = await startRedis(port);
      await waitFor(() => lonely.redisUp(), 10_000);
      await lonely.users.put({ name: "early", rpm: 1, tpm: null, keys: [] });
      expect((await lonely.control.acquire(req({ user: "early" }), sig())).ok).to.equal(true);
      expect((await lonely.control.acquire(req({ user: "early" }), sig())).ok).to.equal(false);
    } finally {
      await lonely.close();
      await late?.stop();
    }
  });

  it("fail-closed refuses with 503 while Redis is down", async () => {
    await pair({ onRedisFailure: "closed" });
    await a.users.put({ name: "closed", rpm: 100, tpm: null, keys: [] });
    expect((await a.control.acquire(req({ user: "closed" }), sig())).ok).to.equal(true);
    await redis.stop();
    await waitFor(() => !a.redisUp());
    const d = await a.control.acquire(req({ user: "closed" }), sig());
    expect(d.ok).to.equal(false);
    if (!d.ok) {
      expect(d.rejection.status).to.equal(503);
      expect(d.rejection.error.message).to.include("fail closed");
    }
    await redis.restart();
    await waitFor(() => a.redisUp(), 10_000);
  });
});
