import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Diagnostics } from "../../../api/labels.js";
import { startDiagnosticsAgent, type DiagnosticsAgent } from "../../../diagnostics/agent.js";
import { MockBackend } from "../../../diagnostics/mock.js";
import type { NodeView } from "../../../diagnostics/publish.js";

describe("diagnostics: the node agent's loop", () => {
  let dir: string;
  let file: string;
  let clock: number;
  let published: NodeView[];
  let failPublish: boolean;
  let agent: DiagnosticsAgent | undefined;
  const warnings: string[] = [];

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-agent-"));
    file = path.join(dir, "gpu_mock_conf.toml");
    writeFileSync(file, "[gpus]\ncard_count = 4\n");
    clock = 1_000_000;
    published = [];
    failPublish = false;
    warnings.length = 0;
  });
  afterEach(async () => {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(): DiagnosticsAgent {
    agent = startDiagnosticsAgent({
      nodeName: "n1",
      backend: new MockBackend(file),
      checks: { expectedCards: 4 },
      publisher: {
        publish: async (view) => {
          if (failPublish) throw new Error("apiserver unavailable");
          published.push(view);
        },
      },
      intervalMs: 3_600_000, // rounds are driven by tick() here
      stableMs: 30_000,
      refreshMs: 60_000,
      log: { info: () => {}, warn: (_o, msg) => warnings.push(msg) },
      now: () => clock,
    });
    return agent;
  }

  it("publishes on start, on a change, at the refresh interval; not on every unchanged probe", async () => {
    const a = start();
    await a.tick();
    expect(published).to.have.length(1);
    expect(published[0]!.annotations[Diagnostics.nodeHealth]).to.equal("healthy");
    clock += 10_000;
    await a.tick();
    expect(published).to.have.length(1);
    writeFileSync(file, "[gpus]\ncard_count = 4\n[gpus.2]\ndram_ue = 1\n");
    clock += 1_000;
    await a.tick();
    expect(published).to.have.length(2);
    expect(published[1]!.taint).to.equal("gpu_vram_unrecoverable_errors");
    expect(published[1]!.annotations[Diagnostics.failingDevices]).to.equal("2");
    clock += 61_000;
    await a.tick();
    expect(published).to.have.length(3); // refresh: same marks, fresh last-report
    expect(published[2]!.annotations[Diagnostics.lastReport]).to.equal(new Date(clock).toISOString());
  });

  it("clears after the stable period, not before", async () => {
    writeFileSync(file, "[gpus]\ncard_count = 4\n[gpus.2]\ndram_ue = 1\n");
    const a = start();
    await a.tick();
    writeFileSync(file, "[gpus]\ncard_count = 4\n");
    clock += 5_000;
    await a.tick();
    clock += 29_000;
    await a.tick();
    expect(a.marks().node).to.not.equal(null);
    clock += 1_000;
    await a.tick();
    expect(a.marks().node).to.equal(null);
    expect(published.at(-1)!.taint).to.equal(null);
    expect(published.at(-1)!.annotations[Diagnostics.nodeHealth]).to.equal("healthy");
  });

  it("a failed probe publishes nothing (the report goes stale); a failed publish is retried next probe", async () => {
    const a = start();
    await a.tick();
    writeFileSync(file, "not toml [");
    clock += 120_000;
    await a.tick();
    expect(published).to.have.length(1);
    expect(warnings).to.include("probe failed; nothing published");
    writeFileSync(file, "[gpus]\ncard_count = 4\n[gpus.0]\nlink_width_current = 4\n");
    failPublish = true;
    await a.tick();
    expect(warnings).to.include("publishing node health failed; retrying next probe");
    failPublish = false;
    clock += 1_000;
    await a.tick();
    expect(published).to.have.length(2);
    expect(published[1]!.annotations[Diagnostics.failingDevices]).to.equal("0");
    expect(a.lastReport()?.failingDevices).to.deep.equal([0]);
  });
});
