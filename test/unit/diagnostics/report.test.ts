import { expect } from "chai";
import { runChecks } from "../../../diagnostics/checks.js";
import { mockProbe, parseMockConfig } from "../../../diagnostics/mock.js";
import { buildReport, formatTable } from "../../../diagnostics/report.js";

const at = new Date("2026-12-02T18:00:00Z");
const report = (toml: string, expectedCards = 2) =>
  buildReport("gpu-node-1", "mock", runChecks(mockProbe(parseMockConfig(toml)), { expectedCards }), at);

describe("diagnostics: report", () => {
  it("JSON: overall, the fault that would taint, the devices that would be excluded, every result", () => {
    const r = report("[gpus]\ncard_count = 2\n[gpus.1]\ndram_ue = 2\nlink_width_current = 8\n");
    expect(r).to.include({
      node: "gpu-node-1",
      backend: "mock",
      time: "2026-12-02T18:00:00.000Z",
      overall: "unhealthy",
    });
    expect(r.nodeFault).to.equal(
      "gpu_vram_unrecoverable_errors: GPU 1: 2 uncorrectable (double-bit) ECC errors since the last reset",
    );
    expect(r.failingDevices).to.deep.equal([1]);
    expect(r.results).to.have.length(22);
    expect(JSON.parse(JSON.stringify(r))).to.deep.equal(r);
  });

  it("table: aligned columns, statuses people read at a glance, a verdict line", () => {
    const text = formatTable(report("[gpus]\ncard_count = 2\n[gpus.0]\nlink_width_current = 8\n"));
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).to.match(/^GPU\s+CHECK\s+STATUS\s+MESSAGE$/);
    expect(lines).to.include.members(["node  gpu_driver_status              ok      GPU driver is loaded"]);
    expect(text).to.match(/\n0\s+gpu_link_status\s+FAIL\s+PCIe link width x8 of x16: the link trained down\n/);
    expect(lines.at(-1)).to.equal("node gpu-node-1: GPUs 0 excluded [mock, 2026-12-02T18:00:00.000Z]");
    const problems = formatTable(report("[gpus]\ncard_count = 2\n[gpus.0]\nlink_width_current = 8\n"), true);
    expect(problems.trimEnd().split("\n")).to.have.length(4);
    expect(formatTable(report("[gpus]\ncard_count = 2\n", 3))).to.match(
      /UNHEALTHY \(gpu_card_count: GPU card count mismatch/,
    );
  });
});
