import { expect } from "chai";
import { pino } from "pino";
import { parseFlowControlConfig, FlowControlConfigError } from "../../../../router/flow-control/config-file.js";
import { flowControlFromFlags } from "../../../../router/flow-control/from-flags.js";

describe("flow-control config file", () => {
  it("parses a full file", () => {
    const f = parseFlowControlConfig(`
auth: keys
onRedisFailure: closed
limits:
  models: {m: {rps: 5, concurrency: 2}}
fairness: {policy: fcfs, maxWaitMs: 1000}
saturation: {queueDepth: 3, kvCacheUsage: 0.9}
users:
  - {name: alice, rpm: 10, tpm: 1000, priority: critical}
`);
    expect(f.config).to.deep.include({ auth: "keys", onRedisFailure: "closed" });
    expect(f.config.limits).to.deep.equal({ models: { m: { rps: 5, concurrency: 2 } } });
    expect(f.users[0]).to.include({ name: "alice", rpm: 10 });
  });

  it("names field, value and rule for every problem", () => {
    const bad = `
auth: maybe
limits: {models: {m: {rps: -1, burst: 3}}}
saturation: {kvCacheUsage: 2}
users: [{name: bob, rpm: -5}]
colour: red
`;
    let msg = "";
    try {
      parseFlowControlConfig(bad, "a.yaml");
    } catch (err) {
      expect(err).to.be.instanceOf(FlowControlConfigError);
      msg = (err as Error).message;
    }
    expect(msg).to.include("a.yaml: 6 problem(s)");
    expect(msg).to.include('auth: "maybe": must be one of off | keys (rule: enum)');
    expect(msg).to.include("limits.models.m.rps: -1: must be an integer > 0");
    expect(msg).to.include("limits.models.m.burst");
    expect(msg).to.include("saturation.kvCacheUsage: 2");
    expect(msg).to.include("users[0].rpm: -5: rpm must be an integer >= 0");
    expect(msg).to.include("colour");
  });

  it("flowControlFromFlags stays out of the way unless asked, and validates flags", async () => {
    expect(await flowControlFromFlags({}, {})).to.equal(undefined);
    let err = "";
    await flowControlFromFlags({ auth: "sometimes" }, {}).catch((e: Error) => (err = e.message));
    expect(err).to.include("--auth sometimes");
    const started = await flowControlFromFlags({ adminPort: "0", auth: "off" }, {}, pino({ level: "silent" }));
    try {
      const res = await fetch(`${started!.adminUrl}/healthz`);
      expect(await res.json()).to.deep.equal({ ok: true, redis: "none" });
    } finally {
      await started!.flowControl.close();
    }
  });
});
