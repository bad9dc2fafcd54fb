import { expect } from "chai";
import type { OpenAIError } from "../../../../router/forwarding/errors.js";
import { bodyFailure, statusFailure, transportFailure } from "../../../../router/request-path/failure.js";
import { runWithRetries, type AttemptOutcome, type RetryLoop } from "../../../../router/request-path/retry-loop.js";

/** A loop over endpoints "a", "b", "c" whose attempts follow a script, recording what the loop did. */
function scripted(
  script: Record<string, (mayRetry: () => boolean) => AttemptOutcome>,
  o: { maxRetries?: number; budget?: number } = {},
) {
  const log: string[] = [];
  const inUse = new Map<string, number>();
  let tokens = o.budget ?? 100;
  const loop: RetryLoop<string> = {
    pool: ["a", "b", "c"],
    policy: { maxRetries: o.maxRetries ?? 2 },
    budget: { take: () => tokens-- > 0 },
    cancelled: () => false,
    pick: (attempt, exclude, lastFailure) => {
      const ep = loop.pool.find((e) => !exclude.has(e));
      log.push(`pick ${attempt} ${ep ?? "-"}${lastFailure ? ` after ${lastFailure}` : ""}`);
      if (!ep) return { error: { status: 503, message: `none left (${lastFailure})`, code: "service_unavailable" } };
      return { endpoint: ep };
    },
    attempt: async (ep, _attempt, mayRetry) => {
      const step = script[ep];
      if (!step) throw new Error(`no script for ${ep}`);
      return step(mayRetry);
    },
    acquire: (ep) => inUse.set(ep, (inUse.get(ep) ?? 0) + 1),
    release: (ep) => inUse.set(ep, (inUse.get(ep) ?? 0) - 1),
    onFailure: (ep, f) => log.push(`failure ${ep} ${f.detail}`),
    onRetry: (f) => log.push(`retry ${f.reason}`),
  };
  return { loop, log, inUse };
}

const connectFailed = (ep: string): AttemptOutcome => ({
  kind: "failed",
  failure: transportFailure(ep, "connect", new Error("ECONNREFUSED")),
});

describe("request path: the retry loop", () => {
  it("tries another endpoint after a failure before the first byte, and ends with the answer", async () => {
    const { loop, log, inUse } = scripted({ a: () => connectFailed("a"), b: () => ({ kind: "answered" }) });
    const end = await runWithRetries(loop);
    expect(end).to.deep.equal({ kind: "answered" });
    expect(log).to.deep.equal([
      "pick 0 a",
      "failure a connect: ECONNREFUSED",
      "retry connect",
      "pick 1 b after a connect",
    ]);
    expect([...inUse.values()]).to.deep.equal([0, 0]);
  });

  it("answers with the last failure's own answer once maxRetries is spent", async () => {
    const { loop, log } = scripted(
      { a: () => connectFailed("a"), b: () => ({ kind: "failed", failure: bodyFailure("b", new Error("reset")) }) },
      { maxRetries: 1 },
    );
    const end = await runWithRetries(loop);
    expect(end.kind).to.equal("refused");
    const error = (end as { error: OpenAIError }).error;
    expect(error.status).to.equal(502);
    expect(error.message).to.equal("engine b failed while sending its response (reset)");
    expect(log.filter((l) => l.startsWith("retry"))).to.deep.equal(["retry connect"]);
  });

  it("does not retry when the router-wide budget is spent", async () => {
    const { loop, log } = scripted({ a: () => connectFailed("a") }, { budget: 0 });
    const end = await runWithRetries(loop);
    expect((end as { error: OpenAIError }).error.status).to.equal(502);
    expect(log).to.deep.equal(["pick 0 a", "failure a connect: ECONNREFUSED"]);
  });

  it("a server error the attempt chose to retry goes to the next endpoint without asking the budget twice", async () => {
    let asked = 0;
    const { loop, log } = scripted(
      {
        a: (mayRetry) => {
          asked++;
          return mayRetry() ? { kind: "retry", failure: statusFailure("a", 503)! } : { kind: "answered" };
        },
        b: () => ({ kind: "answered" }),
      },
      { budget: 1 },
    );
    expect(await runWithRetries(loop)).to.deep.equal({ kind: "answered" });
    expect(asked).to.equal(1);
    expect(log).to.include("retry status_503");
  });

  it("after the last endpoint left fails, its own answer goes to the client", async () => {
    const { loop } = scripted(
      { a: () => connectFailed("a"), b: () => connectFailed("b"), c: () => connectFailed("c") },
      { maxRetries: 5 },
    );
    const end = await runWithRetries(loop);
    // After c no endpoint is left to retry on: c's own answer, not the pick stage's.
    expect((end as { error: OpenAIError }).error.message).to.match(/^engine c failed before responding/);
  });

  it("stops at once when the client went away, and frees the slot even when an attempt throws", async () => {
    const gone = scripted({ a: () => ({ kind: "client-gone" }) });
    expect(await runWithRetries(gone.loop)).to.deep.equal({ kind: "client-gone" });
    expect(gone.inUse.get("a")).to.equal(0);
    const broken = scripted({});
    let thrown: unknown;
    await runWithRetries(broken.loop).catch((err: unknown) => (thrown = err));
    expect(String(thrown)).to.match(/no script for a/);
    expect(broken.inUse.get("a")).to.equal(0);
  });
});

describe("request path: the failure classifier", () => {
  it("says what failed, how to log it, and what the client gets", () => {
    expect(transportFailure("ep1", "timeout", new Error("headers timeout"))).to.deep.equal({
      reason: "timeout",
      detail: "timeout: headers timeout",
      summary: "ep1 timeout",
      answer: {
        status: 504,
        message: "engine ep1 timed out before responding (headers timeout)",
        code: "upstream_error",
      },
    });
    expect(transportFailure("ep1", "reset", new Error("socket hang up")).answer?.status).to.equal(502);
    expect(statusFailure("ep1", 499)).to.equal(undefined);
    expect(statusFailure("ep1", 500)).to.deep.equal({
      reason: "status_500",
      detail: "status 500",
      summary: "ep1 status 500",
    });
    expect(bodyFailure("ep1", new Error("terminated"))).to.include({ reason: "body", summary: "ep1 body" });
  });
});
