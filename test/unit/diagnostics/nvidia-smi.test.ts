import { expect } from "chai";
import { normalizeBusId } from "../../../diagnostics/command.js";
import { kernelLogXids, parseXidLines } from "../../../diagnostics/kernel-log.js";
import {
  GPU_FIELDS,
  NvidiaSmiBackend,
  parseGpuQuery,
  parseListing,
  parseNvlinkStatus,
  parseRemappedRows,
  readCount,
  readFlag,
} from "../../../diagnostics/nvidia-smi.js";
import { fixtureRunner } from "./fixture-runner.js";

const NOW = Date.parse("2026-12-02T18:10:00Z");

function backend(name: string, calls: string[][] = []) {
  const run = fixtureRunner(name, calls);
  return new NvidiaSmiBackend({ run, xids: kernelLogXids({ windowMs: 15 * 60_000, run, now: () => NOW }) });
}

describe("diagnostics: nvidia-smi parsing", () => {
  it("reads [N/A], [Not Supported], N/A and empty as unknown, never as zero or false", () => {
    for (const raw of ["[N/A]", "[Not Supported]", "N/A", "", " ", "[Unknown Error]"]) {
      expect(readCount(raw), raw).to.equal(null);
      expect(readFlag(raw), raw).to.equal(null);
    }
    expect(readCount("0")).to.equal(0);
    expect(readCount(" 12 ")).to.equal(12);
    expect(readCount("-1")).to.equal(null);
    expect(readCount("1.5")).to.equal(null);
    expect(readFlag("Enabled")).to.equal(true);
    expect(readFlag("Not Active")).to.equal(false);
    expect(readFlag("Yes")).to.equal(true);
    expect(readFlag("0")).to.equal(false);
    expect(readFlag("maybe")).to.equal(null);
  });

  it("normalizes nvidia-smi's and the kernel's bus ids to one key", () => {
    expect(normalizeBusId("00000000:4E:00.0")).to.equal("0:4e:00");
    expect(normalizeBusId("0000:4e:00")).to.equal("0:4e:00");
    expect(normalizeBusId("00000001:4E:00.0")).to.equal("1:4e:00");
    expect(normalizeBusId("garbage")).to.equal(null);
  });

  it("parses the -L listing, ignoring MIG device lines", () => {
    const list = parseListing(
      "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-aaaa)\n  MIG 3g.40gb     Device  0: (UUID: MIG-bbbb)\nGPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-cccc)\n",
    );
    expect(list).to.deep.equal([
      { index: 0, name: "NVIDIA A100-SXM4-80GB", uuid: "GPU-aaaa" },
      { index: 1, name: "NVIDIA A100-SXM4-80GB", uuid: "GPU-cccc" },
    ]);
  });

  it("parses a query row whose product name contains a comma, and refuses a short row", () => {
    const cells = GPU_FIELDS.map(() => "0");
    cells[1] = "GPU-x";
    cells[2] = "Vendor, Model";
    const [g] = parseGpuQuery(cells.join(", "));
    expect(g!.name).to.equal("Vendor, Model");
    expect(g!.uuid).to.equal("GPU-x");
    expect(g!.ecc.enabled).to.equal(false);
    expect(() => parseGpuQuery("0, GPU-x, name")).to.throw(/3 columns, expected 19/);
  });

  it("parses remapped rows and NVLink status", () => {
    const rows = parseRemappedRows("00000000:07:00.0, 0, 1, 1, 0\nnot a row\n");
    expect(rows.get("0:07:00")).to.deep.equal({ correctable: 0, uncorrectable: 1, pending: true, failure: false });
    expect(rows.size).to.equal(1);
    const links = parseNvlinkStatus(
      "GPU 0: X (UUID: GPU-a)\n\t Link 0: 25 GB/s\n\t Link 2: <inactive>\nGPU 1: X (UUID: GPU-b)\n",
    );
    expect(links.get("GPU-a")).to.deep.equal([true, false, false]);
    expect(links.get("GPU-b")).to.deep.equal([]);
  });

  it("parses XID lines with their time and bus id", () => {
    const xids = parseXidLines(
      "2026-12-02T18:02:11,551092+00:00 NVRM: Xid (PCI:0000:4e:00): 48, pid=51007, name=python3, An uncorrectable double bit error\n" +
        "[12345.678] NVRM: Xid (PCI:0000:4e:00 GPU-I:05): 94, pid=7194, Contained: CE User Channel (0x9).\n" +
        "unrelated line\n",
    );
    const events = xids.get("0:4e:00")!;
    expect(events.map((e) => e.code)).to.deep.equal([48, 94]);
    expect(events[0]!.atMs).to.equal(Date.parse("2026-12-02T18:02:11.551Z"));
    expect(Number.isNaN(events[1]!.atMs)).to.equal(true);
    expect(events[0]!.text).to.equal("Xid 48: pid=51007, name=python3, An uncorrectable double bit error");
  });
});

describe("diagnostics: nvidia-smi backend on recorded outputs", () => {
  it("8x H100 SXM: every GPU read, row remapping, 18 NVLinks, retired pages unknown (Hopper)", async () => {
    const calls: string[][] = [];
    const probe = await backend("h100-sxm-8-healthy", calls).probe();
    expect(probe.driver.ok).to.equal(true);
    expect(probe.listed).to.equal(8);
    expect(probe.gpus).to.have.length(8);
    const g = probe.gpus[7]!;
    expect(g.name).to.equal("NVIDIA H100 80GB HBM3");
    expect(g.rowRemapping).to.equal(true);
    expect(g.remappedRows).to.deep.equal({ correctable: 0, uncorrectable: 0, pending: false, failure: false });
    expect(g.retiredPages).to.deep.equal({ sbe: null, dbe: null, pending: null });
    expect(g.nvlinks).to.have.length(18);
    expect(g.pcie).to.deep.equal({ genCurrent: 1, genMax: 5, widthCurrent: 16, widthMax: 16 });
    expect(g.xids).to.deep.equal([]);
    expect(calls.map((c) => c.slice(0, 2).join(" "))).to.include.members([
      "nvidia-smi -L",
      "nvidia-smi nvlink",
      "dmesg --time-format",
    ]);
    expect(calls.find((c) => c[1]?.startsWith("--query-gpu="))).to.include("--format=csv,noheader,nounits");
  });

  it("1x H200 recorded on hardware (driver 580.159): the current driver still answers the clocks_throttle_reasons names", async () => {
    const probe = await backend("h200-1-recorded").probe();
    expect(probe.driver.ok).to.equal(true);
    expect(probe.listed).to.equal(1);
    const g = probe.gpus[0]!;
    expect(g.name).to.equal("NVIDIA H200");
    expect(g.uuid).to.match(/^GPU-[0-9a-f-]{36}$/);
    expect(g.pcie).to.deep.equal({ genCurrent: 5, genMax: 5, widthCurrent: 16, widthMax: 16 });
    expect(g.ecc.enabled).to.equal(true);
    expect(g.ecc.volatileUncorrected).to.equal(0);
    expect(g.retiredPages).to.deep.equal({ sbe: null, dbe: null, pending: null });
    expect(g.remappedRows).to.deep.equal({ correctable: 0, uncorrectable: 0, pending: false, failure: false });
    expect(g.throttle).to.deep.equal({ thermal: false, powerBrake: false });
    expect(g.nvlinks).to.deep.equal([]); // a single card: `nvlink --status` prints nothing and exits 0
    expect(g.xids).to.deep.equal([]); // NVRM's load and FBHUB lines are not XIDs
  });

  it("nvlink --status: a GPU omitted while others are listed is unknown; an empty answer means no NVLink anywhere", async () => {
    const base = fixtureRunner("h100-sxm-8-healthy");
    const answering = (stdout: string) =>
      new NvidiaSmiBackend({
        run: async (f, a, s) => (a[0] === "nvlink" ? { code: 0, stdout, stderr: "" } : base(f, a, s)),
      }).probe();
    const full = await backend("h100-sxm-8-healthy").probe();
    const withoutLast = (await base("nvidia-smi", ["nvlink", "--status"])).stdout.split(/(?=^GPU 7:)/m)[0]!;
    const partial = await answering(withoutLast);
    expect(partial.gpus[0]!.nvlinks).to.deep.equal(full.gpus[0]!.nvlinks);
    expect(partial.gpus[7]!.nvlinks).to.equal(null);
    const empty = await answering("");
    expect(empty.gpus.map((g) => g.nvlinks)).to.deep.equal(Array.from({ length: 8 }, () => []));
  });

  it("8x A100 with faults: XIDs within the window attributed by bus id, older ones dropped", async () => {
    const probe = await backend("a100-sxm-8-faults").probe();
    expect(probe.gpus[3]!.ecc.volatileUncorrected).to.equal(2);
    expect(probe.gpus[3]!.xids!.map((x) => x.code)).to.deep.equal([48, 63]);
    expect(probe.gpus[1]!.xids!.map((x) => x.code)).to.deep.equal([13]);
    expect(probe.gpus[6]!.xids).to.deep.equal([]); // the XID 79 from November is outside the window
    expect(probe.gpus[6]!.remappedRows.pending).to.equal(true);
    expect(probe.gpus[2]!.nvlinks![4]).to.equal(false);
    expect(probe.gpus[5]!.pcie.widthCurrent).to.equal(8);
    expect(probe.gpus[7]!.throttle.thermal).to.equal(true);
  });

  it("4x T4: no row remapping (query refused), page retirement read, ECC disabled reads unknown counts", async () => {
    const probe = await backend("t4-4-retired-pages").probe();
    expect(probe.gpus.map((g) => g.rowRemapping)).to.deep.equal([false, false, false, false]);
    expect(probe.gpus[1]!.retiredPages).to.deep.equal({ sbe: 2, dbe: 0, pending: true });
    expect(probe.gpus[3]!.ecc).to.deep.equal({
      enabled: false,
      volatileCorrected: null,
      volatileUncorrected: null,
      aggregateCorrected: null,
      aggregateUncorrected: null,
    });
    expect(probe.gpus[0]!.nvlinks).to.deep.equal([]);
    expect(probe.gpus[0]!.throttle.powerBrake).to.equal(null);
  });

  it("driver not loaded: the tool's own words, no GPUs", async () => {
    const probe = await backend("driver-not-loaded").probe();
    expect(probe.driver.ok).to.equal(false);
    expect(probe.driver.message).to.match(/couldn't communicate with the NVIDIA driver/);
    expect(probe.listed).to.equal(null);
  });

  it("nvidia-smi missing: driver unreachable with the exec error", async () => {
    const probe = await new NvidiaSmiBackend({ binary: "/nonexistent/nvidia-smi" }).probe();
    expect(probe.driver.ok).to.equal(false);
    expect(probe.driver.message).to.equal(
      "/nonexistent/nvidia-smi not found: install the NVIDIA driver utilities, or point --nvidia-smi at it (--mock <file> to test without a GPU)",
    );
  });

  it("a failing --query-gpu leaves the listed cards with every value unknown", async () => {
    const base = fixtureRunner("h100-sxm-8-healthy");
    const probe = await new NvidiaSmiBackend({
      run: async (f, a, s) =>
        a[0]?.startsWith("--query-gpu=") ? { code: 2, stdout: "", stderr: "Unknown Error" } : base(f, a, s),
    }).probe();
    expect(probe.gpus).to.have.length(8);
    expect(probe.gpus[0]!.uuid).to.match(/^GPU-/);
    expect(probe.gpus[0]!.pcie.widthCurrent).to.equal(null);
    expect(probe.gpus[0]!.xids).to.equal(null); // no XID source given
  });
});
