import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { MockBackend, mockProbe, parseMockConfig } from "../../../diagnostics/mock.js";

/** Upstream's example file (hack/gpu_mock_conf.toml), field for field. */
const UPSTREAM_EXAMPLE = `
version = "0.1.0"

[gpus]
card_count = 4
nvml_init_error = 0

[gpus.0]
remapping_pending = true
dram_ue = 7

[gpus.1]
device_name = "A800"
arch = 7
pci = "00:00"
uuid = "xxxxx"
link_gen = 4
link_width_current = 16
link_width_max = 16
nvlink_active = [true, true, true, true, true, true]
remapping_failure = false
remapping_pending = false
sram_ue = 0
dram_ue = 0
dram_ce = 0
retired_page_sbe = 0
retired_page_dbe = 0
retired_page_pending = false
uncorrectable_agg_l1 = 0
uncorrectable_agg_l2 = 0
uncorrectable_agg_reg = 0
`;

describe("diagnostics: mock backend", () => {
  it("reads upstream's example file: card count, per-card fields, defaults for the rest", () => {
    const probe = mockProbe(parseMockConfig(UPSTREAM_EXAMPLE));
    expect(probe.driver.ok).to.equal(true);
    expect(probe.gpus).to.have.length(4);
    expect(probe.gpus[0]!.remappedRows.pending).to.equal(true);
    expect(probe.gpus[0]!.ecc.volatileUncorrected).to.equal(7);
    const a800 = probe.gpus[1]!;
    expect(a800).to.include({ name: "A800", uuid: "xxxxx", busId: "00000000:00:00.0", rowRemapping: true });
    expect(a800.pcie).to.deep.equal({ genCurrent: 4, genMax: 4, widthCurrent: 16, widthMax: 16 });
    expect(a800.nvlinks).to.deep.equal([true, true, true, true, true, true]);
    expect(a800.retiredPages).to.deep.equal({ sbe: 0, dbe: 0, pending: false });
    expect(probe.gpus[3]!.name).to.equal("NVIDIA H100 80GB HBM3");
  });

  it("nvml_init_error makes the driver unreachable with the nvmlReturn_t name", () => {
    const probe = mockProbe(parseMockConfig("[gpus]\ncard_count = 4\nnvml_init_error = 9\n"));
    expect(probe.driver).to.deep.equal({ ok: false, message: "nvmlInit failed: NVML_ERROR_DRIVER_NOT_LOADED (9)" });
  });

  it("maps every fault field onto what nvidia-smi would report", () => {
    const probe = mockProbe(
      parseMockConfig(`[gpus]
card_count = 1
[gpus.0]
arch = 6
sram_ue = 1
dram_ue = 2
dram_ce = 5
uncorrectable_agg_l1 = 1
uncorrectable_agg_l2 = 1
uncorrectable_agg_reg = 1
retired_page_sbe = 3
retired_page_dbe = 4
retired_page_pending = true
link_gen = 3
link_gen_max = 4
link_width_current = 4
xid = [79, 13]
thermal_throttle = true
power_brake = true
`),
      1000,
    );
    const g = probe.gpus[0]!;
    expect(g.rowRemapping).to.equal(false);
    expect(g.ecc).to.deep.equal({
      enabled: true,
      volatileCorrected: 5,
      volatileUncorrected: 3,
      aggregateCorrected: 5,
      aggregateUncorrected: 6,
    });
    expect(g.retiredPages).to.deep.equal({ sbe: 3, dbe: 4, pending: true });
    expect(g.remappedRows.pending).to.equal(null);
    expect(g.pcie).to.deep.equal({ genCurrent: 3, genMax: 4, widthCurrent: 4, widthMax: 16 });
    expect(g.xids!.map((x) => x.code)).to.deep.equal([79, 13]);
    expect(g.throttle).to.deep.equal({ thermal: true, powerBrake: true });
    const off = mockProbe(parseMockConfig("[gpus]\ncard_count = 1\n[gpus.0]\necc_enabled = false\n")).gpus[0]!;
    expect(off.ecc.enabled).to.equal(false);
    expect(off.ecc.volatileUncorrected).to.equal(null);
  });

  it("refuses a bad file with the field and the rule", () => {
    expect(() => parseMockConfig("version = 1")).to.throw("[gpus]: table is required");
    expect(() => parseMockConfig("[gpus]\n")).to.throw("gpus.card_count: required");
    expect(() => parseMockConfig("[gpus]\ncard_count = -1")).to.throw("gpus.card_count: -1 is not an integer >= 0");
    expect(() => parseMockConfig("[gpus]\ncard_count = 2\n[gpus.2]\ndram_ue = 1")).to.throw(
      "gpus.2: card index must be below card_count 2",
    );
    expect(() => parseMockConfig("[gpus]\ncard_count = 2\n[gpus.0]\ndram_eu = 1")).to.throw(
      /gpus\.0\.dram_eu: unknown field/,
    );
    expect(() => parseMockConfig('[gpus]\ncard_count = 2\n[gpus.0]\nnvlink_active = ["yes"]')).to.throw(
      'gpus.0.nvlink_active: ["yes"] is not a bool[]',
    );
    expect(() => parseMockConfig("[gpus]\ncard_count = 2\ncolour = 1")).to.throw(/gpus\.colour: unknown field/);
  });

  it("reads the file on every probe, so rewriting it injects and clears a fault", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-mock-"));
    try {
      const file = path.join(dir, "gpu_mock_conf.toml");
      const backend = new MockBackend(file);
      await backend.probe().then(
        () => expect.fail("a missing file must fail the probe"),
        (err: Error) => expect(err.message).to.match(/^mock file .*gpu_mock_conf.toml: ENOENT/),
      );
      writeFileSync(file, "[gpus]\ncard_count = 2\n");
      expect((await backend.probe()).gpus[1]!.ecc.volatileUncorrected).to.equal(0);
      writeFileSync(file, "[gpus]\ncard_count = 2\n[gpus.1]\ndram_ue = 1\n");
      expect((await backend.probe()).gpus[1]!.ecc.volatileUncorrected).to.equal(1);
      writeFileSync(file, "[gpus]\ncard_count = 2\n[gpus.1]\ndram_ue = one\n");
      await backend.probe().then(
        () => expect.fail("a malformed file must fail the probe"),
        (err: Error) => expect(err.message).to.match(/^mock file /),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
