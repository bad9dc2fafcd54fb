import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { FleetEndpointState } from "../../../../router/flow-control/control.js";
import { defaultSaturation } from "../../../../router/flow-control/fairness/saturation.js";
import { ModelGate } from "../../../../router/flow-control/gate.js";
import { LimitBackend } from "../../../../router/flow-control/limits/backend.js";
import { defaultLimitsConfig, RateLimiter } from "../../../../router/flow-control/limits/limiter.js";

describe("flow control capacity gate (engine saturation)", () => {
  let clock = 0;
  let backend: LimitBackend;
  let gate: ModelGate;
  /** One engine whose last scrape showed `waiting` queued requests (under the depth of 5: not saturated). */
  let waiting = 3;

  beforeEach(async () => {
    clock = 1_000_000;
    waiting = 3;
    backend = new LimitBackend({
      onRedisFailure: "open",
      keyPrefix: "t:",
      commandTimeoutMs: 250,
      logger: pino({ level: "silent" }),
      registry: new Registry(),
    });
    await backend.ready();
    gate = new ModelGate(
      new RateLimiter(backend, defaultLimitsConfig, () => clock),
      defaultSaturation,
      100,
      () => clock,
    );
    const engine = (): FleetEndpointState => ({ waiting, kvUsage: 0.1, inFlight: 0, stale: false, ejected: false });
    gate.fleet = { endpoints: () => [engine()] };
  });
  afterEach(async () => backend.close());

  const fromQueue = async (n: number) => {
    let admitted = 0;
    for (let i = 0; i < n; i++) if (await gate.tryAcquire("m", `q${clock}-${i}`, true)) admitted++;
    return admitted;
  };

  it("lets the queue into an engine at its headroom per scrape interval, and no faster while nothing finishes", async () => {
    expect(await fromQueue(5)).to.equal(2); // depth 5 − 3 waiting
    clock += 50;
    expect(await fromQueue(5)).to.equal(0);
    clock += 51; // the interval has passed: a fresh scrape's headroom
    expect(await fromQueue(5)).to.equal(2);
  });

  it("lets one more through for each request that finished in the interval, which the last scrape still counted", async () => {
    expect(await fromQueue(5)).to.equal(2);
    for (let i = 0; i < 4; i++) gate.release("m", `done-${i}`);
    expect(await fromQueue(10)).to.equal(4);
    // An engine finishing 40 requests per 100 ms is fed 40 more from the queue, not the headroom's 2.
    clock += 101;
    let fed = 0;
    for (let i = 0; i < 40; i++) {
      gate.release("m", `fast-${i}`);
      fed += await fromQueue(1);
    }
    expect(fed).to.equal(40);
    expect(await fromQueue(5)).to.equal(2);
  });

  it("lets nothing from the queue into an engine over its queue depth, finished requests or not", async () => {
    waiting = 6;
    gate.release("m", "done");
    expect(await fromQueue(3)).to.equal(0);
    expect(await gate.tryAcquire("m", "direct", false)).to.equal(false);
  });
});
