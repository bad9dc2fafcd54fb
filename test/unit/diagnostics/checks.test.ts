import { expect } from "chai";
import {
  ALL_CHECKS,
  assess,
  GPU_CHECKS,
  runChecks,
  type CheckName,
  type CheckResult,
} from "../../../diagnostics/checks.js";
import { kernelLogXids } from "../../../diagnostics/kernel-log.js";
import { mockProbe, parseMockConfig } from "../../../diagnostics/mock.js";
import { NvidiaSmiBackend } from "../../../diagnostics/nvidia-smi.js";
import type { GpuProbe, NodeProbe } from "../../../diagnostics/probe.js";
import { fixtureRunner } from "./fixture-runner.js";

/** A healthy 2-card node, with card 0 changed by `edit`. */
function node(edit: (g: GpuProbe) => void = () => {}): NodeProbe {
  const probe = mockProbe(parseMockConfig("[gpus]\ncard_count = 2\n[gpus.1]\nnvlink_active = [true, true]\n"));
  edit(probe.gpus[0]!);
  return probe;
}

function result(probe: NodeProbe, check: CheckName, gpu: number | null = 0): CheckResult {
  const r = runChecks(probe, { expectedCards: 2 }).find((x) => x.check === check && x.gpu === gpu);
  if (!r) throw new Error(`no ${check} result for GPU ${gpu}`);
  return r;
}

describe("diagnostics: checks", () => {
  it("a healthy node: every check healthy, per GPU and for the node, nothing marked", () => {
    const results = runChecks(node(), { expectedCards: 2 });
    expect(results).to.have.length(2 + 2 * GPU_CHECKS.length);
    for (const r of results) expect(r.status, `${r.check} ${r.gpu}: ${r.message}`).to.equal("healthy");
    expect(assess(results)).to.deep.equal({ nodeFault: null, failing: new Map(), overall: "healthy" });
  });

  it("gpu_driver_status: unreachable driver is fatal and stops the other checks (upstream)", () => {
    const results = runChecks(
      { driver: { ok: false, message: "nvmlInit failed" }, listed: null, gpus: [] },
      { expectedCards: 2 },
    );
    expect(results).to.deep.equal([
      { check: "gpu_driver_status", gpu: null, uuid: "", status: "unhealthy", fatal: true, message: "nvmlInit failed" },
    ]);
    expect(assess(results).nodeFault).to.deep.equal({ check: "gpu_driver_status", message: "nvmlInit failed" });
  });

  it("gpu_card_count: upstream's message on a mismatch (fatal, stops), unknown when no count is configured", () => {
    const results = runChecks(node(), { expectedCards: 4 });
    expect(results.map((r) => r.check)).to.deep.equal(["gpu_driver_status", "gpu_card_count"]);
    expect(results[1]).to.include({
      status: "unhealthy",
      fatal: true,
      message: "GPU card count mismatch: got 2, expected 4",
    });
    const unknown = runChecks(node()).find((r) => r.check === "gpu_card_count")!;
    expect(unknown.status).to.equal("unknown");
    expect(unknown.fatal).to.equal(false);
  });

  it("gpu_link_status: a link trained down excludes the GPU; unreadable width is unknown and excludes too", () => {
    expect(
      result(
        node((g) => (g.pcie.widthCurrent = 8)),
        "gpu_link_status",
      ),
    ).to.include({
      status: "unhealthy",
      fatal: false,
      message: "PCIe link width x8 of x16: the link trained down",
    });
    const unknown = node((g) => (g.pcie.widthMax = null));
    expect(result(unknown, "gpu_link_status").status).to.equal("unknown");
    const a = assess(runChecks(unknown, { expectedCards: 2 }));
    expect(a.nodeFault).to.equal(null);
    expect([...a.failing.keys()]).to.deep.equal([0]);
  });

  it("gpu_link_generation: below max is a warning only", () => {
    const probe = node((g) => (g.pcie.genCurrent = 1));
    expect(result(probe, "gpu_link_generation").status).to.equal("warning");
    expect(assess(runChecks(probe, { expectedCards: 2 })).failing.size).to.equal(0);
    expect(
      result(
        node((g) => (g.pcie.genMax = null)),
        "gpu_link_generation",
      ).status,
    ).to.equal("unknown");
  });

  it("gpu_vram_unrecoverable_errors: volatile uncorrectable ECC or DBE retired pages are fatal", () => {
    const dbe = node((g) => (g.ecc.volatileUncorrected = 3));
    expect(result(dbe, "gpu_vram_unrecoverable_errors")).to.include({ status: "unhealthy", fatal: true });
    expect(assess(runChecks(dbe, { expectedCards: 2 })).nodeFault?.message).to.equal(
      "GPU 0: 3 uncorrectable (double-bit) ECC errors since the last reset",
    );
    expect(
      result(
        node((g) => (g.retiredPages.dbe = 1)),
        "gpu_vram_unrecoverable_errors",
      ).fatal,
    ).to.equal(true);
    const off = result(
      node((g) => (g.ecc.enabled = false)),
      "gpu_vram_unrecoverable_errors",
    );
    expect(off).to.include({ status: "unknown", message: "ECC is disabled: uncorrectable errors go unseen" });
    expect(
      result(
        node((g) => (g.ecc.enabled = null)),
        "gpu_vram_unrecoverable_errors",
      ).status,
    ).to.equal("unknown");
    expect(
      result(
        node((g) => (g.ecc.volatileUncorrected = null)),
        "gpu_vram_unrecoverable_errors",
      ).status,
    ).to.equal("unknown");
  });

  it("gpu_vram_recoverable_errors: corrected errors and SBE retired pages warn, never exclude", () => {
    const probe = node((g) => (g.ecc.volatileCorrected = 5));
    expect(result(probe, "gpu_vram_recoverable_errors")).to.include({ status: "warning", fatal: false });
    expect(assess(runChecks(probe, { expectedCards: 2 })).failing.size).to.equal(0);
    expect(
      result(
        node((g) => (g.retiredPages.sbe = 2)),
        "gpu_vram_recoverable_errors",
      ).status,
    ).to.equal("warning");
    expect(
      result(
        node((g) => (g.ecc.volatileCorrected = null)),
        "gpu_vram_recoverable_errors",
      ).status,
    ).to.equal("unknown");
    // A warning-grade unknown does not exclude the GPU.
    const unknown = node((g) => (g.ecc.volatileCorrected = null));
    expect(assess(runChecks(unknown, { expectedCards: 2 })).failing.size).to.equal(0);
    expect(assess(runChecks(unknown, { expectedCards: 2 })).overall).to.equal("unknown");
  });

  it("gpu_ecc_aggregate_errors: lifetime uncorrectable errors warn", () => {
    expect(
      result(
        node((g) => (g.ecc.aggregateUncorrected = 1)),
        "gpu_ecc_aggregate_errors",
      ).status,
    ).to.equal("warning");
    expect(
      result(
        node((g) => (g.ecc.aggregateUncorrected = null)),
        "gpu_ecc_aggregate_errors",
      ).status,
    ).to.equal("unknown");
  });

  it("gpu_memory_remapping: failure is fatal, pending excludes; pre-Ampere reads pending page retirement", () => {
    expect(
      result(
        node((g) => (g.remappedRows.failure = true)),
        "gpu_memory_remapping",
      ),
    ).to.include({
      status: "unhealthy",
      fatal: true,
    });
    expect(
      result(
        node((g) => (g.remappedRows.pending = true)),
        "gpu_memory_remapping",
      ),
    ).to.include({
      status: "unhealthy",
      fatal: false,
    });
    expect(
      result(
        node((g) => (g.remappedRows.pending = null)),
        "gpu_memory_remapping",
      ).status,
    ).to.equal("unknown");
    const turing = (pending: boolean | null) =>
      node((g) => {
        g.rowRemapping = false;
        g.retiredPages = { sbe: 0, dbe: 0, pending };
      });
    expect(result(turing(true), "gpu_memory_remapping").status).to.equal("unhealthy");
    expect(result(turing(false), "gpu_memory_remapping").status).to.equal("healthy");
    expect(result(turing(null), "gpu_memory_remapping").status).to.equal("unknown");
  });

  it("gpu_xid_errors: a fatal XID taints, an application XID warns, an unreadable log is unknown", () => {
    const x79 = node((g) => (g.xids = [{ code: 79, atMs: 0, text: "Xid 79: GPU has fallen off the bus." }]));
    expect(result(x79, "gpu_xid_errors")).to.include({
      status: "unhealthy",
      fatal: true,
      message: "recent XID 79; latest: Xid 79: GPU has fallen off the bus.",
    });
    const x13 = node((g) => (g.xids = [{ code: 13, atMs: 0, text: "Xid 13" }]));
    expect(result(x13, "gpu_xid_errors")).to.include({ status: "warning", fatal: false });
    expect(
      result(
        node((g) => (g.xids = null)),
        "gpu_xid_errors",
      ).status,
    ).to.equal("unknown");
  });

  it("gpu_nvlink_status: an inactive link excludes the GPU; no NVLink is healthy; unknown excludes", () => {
    const probe = node((g) => (g.nvlinks = [true, false, true]));
    expect(result(probe, "gpu_nvlink_status")).to.include({
      status: "unhealthy",
      message: "NVLink 1 inactive (2/3 up)",
    });
    expect(
      result(
        node((g) => (g.nvlinks = [])),
        "gpu_nvlink_status",
      ).status,
    ).to.equal("healthy");
    expect(
      result(
        node((g) => (g.nvlinks = null)),
        "gpu_nvlink_status",
      ).status,
    ).to.equal("unknown");
  });

  it("gpu_thermal_throttling and gpu_power_throttling warn", () => {
    expect(
      result(
        node((g) => (g.throttle.thermal = true)),
        "gpu_thermal_throttling",
      ).status,
    ).to.equal("warning");
    expect(
      result(
        node((g) => (g.throttle.powerBrake = true)),
        "gpu_power_throttling",
      ).status,
    ).to.equal("warning");
    expect(
      result(
        node((g) => (g.throttle.powerBrake = null)),
        "gpu_power_throttling",
      ).status,
    ).to.equal("unknown");
  });

  it("skipped checks are not run", () => {
    const results = runChecks(
      node((g) => (g.pcie.widthCurrent = 1)),
      {
        expectedCards: 2,
        skip: new Set(["gpu_link_status", "gpu_card_count"]),
      },
    );
    expect(results.some((r) => r.check === "gpu_link_status" || r.check === "gpu_card_count")).to.equal(false);
    expect(ALL_CHECKS).to.have.length(12);
  });

  it("recorded 8x A100 faults: the DBE GPU taints the node, the others are excluded or warned as they should", async () => {
    const run = fixtureRunner("a100-sxm-8-faults");
    const now = Date.parse("2026-12-02T18:10:00Z");
    const probe = await new NvidiaSmiBackend({
      run,
      xids: kernelLogXids({ windowMs: 900_000, run, now: () => now }),
    }).probe();
    const a = assess(runChecks(probe, { expectedCards: 8 }));
    expect(a.nodeFault?.check).to.equal("gpu_vram_unrecoverable_errors");
    expect(a.nodeFault?.message).to.match(/^GPU 3: 2 uncorrectable/);
    expect([...a.failing.keys()].sort()).to.deep.equal([2, 3, 5, 6]);
    expect(a.failing.get(5)).to.match(/^gpu_link_status/);
    expect(a.failing.get(6)).to.match(/^gpu_memory_remapping: row remapping pending/);
    expect(a.failing.get(2)).to.match(/^gpu_nvlink_status: NVLink 4 inactive/);
    expect(a.overall).to.equal("unhealthy");
  });

  it("recorded 8x H100, idle: healthy but for PCIe generation warnings on idle cards", async () => {
    const run = fixtureRunner("h100-sxm-8-healthy");
    const probe = await new NvidiaSmiBackend({ run, xids: kernelLogXids({ windowMs: 900_000, run }) }).probe();
    const results = runChecks(probe, { expectedCards: 8 });
    const notHealthy = results.filter((r) => r.status !== "healthy").map((r) => `${r.gpu}:${r.check}:${r.status}`);
    expect(notHealthy).to.deep.equal(["6:gpu_link_generation:warning", "7:gpu_link_generation:warning"]);
    expect(assess(results).failing.size).to.equal(0);
  });

  it("recorded on an H200 (driver 580): every check healthy, no NVLink exposed, the driver's own kernel lines no XID", async () => {
    const run = fixtureRunner("h200-1-recorded");
    const now = Date.parse("2026-12-04T16:25:00Z");
    const probe = await new NvidiaSmiBackend({
      run,
      xids: kernelLogXids({ windowMs: 900_000, run, now: () => now }),
    }).probe();
    const results = runChecks(probe, { expectedCards: 1 });
    const notHealthy = results.filter((r) => r.status !== "healthy").map((r) => `${r.gpu}:${r.check}:${r.status}`);
    expect(notHealthy).to.deep.equal([]);
    expect(assess(results).overall).to.equal("healthy");
  });

  it("recorded 4x T4: pending retirement excludes GPU 1, a DBE retired page taints, ECC-off GPU 3 is unknown", async () => {
    const run = fixtureRunner("t4-4-retired-pages");
    const probe = await new NvidiaSmiBackend({ run, xids: kernelLogXids({ windowMs: 900_000, run }) }).probe();
    const a = assess(runChecks(probe, { expectedCards: 4 }));
    expect(a.nodeFault?.message).to.equal("GPU 2: 1 pages retired for double-bit ECC errors");
    expect([...a.failing.keys()].sort()).to.deep.equal([1, 2, 3]);
    expect(a.failing.get(3)).to.equal("gpu_vram_unrecoverable_errors: ECC is disabled: uncorrectable errors go unseen");
  });
});
