import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", path.join(root, "cli/main.ts"), ...args],
      { cwd: root, env: { ...process.env, ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("aibrix-ts diagnose --once (CLI)", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-diagnose-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("healthy mock node: table, exit 0; GPU_CARD_COUNT is honoured as upstream", async () => {
    const file = path.join(dir, "healthy.toml");
    writeFileSync(file, "[gpus]\ncard_count = 8\n");
    const r = await cli(["diagnose", "--once", "--mock", file, "--node-name", "n1"], { GPU_CARD_COUNT: "8" });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/node\s+gpu_card_count\s+ok\s+8 cards, as expected/);
    expect(r.stdout).to.match(/node n1: healthy \[mock, /);
  });

  it("a DBE on card 5: JSON report names it, exit 1", async () => {
    const file = path.join(dir, "dbe.toml");
    writeFileSync(file, "[gpus]\ncard_count = 8\n[gpus.5]\ndram_ue = 1\n");
    const r = await cli(["diagnose", "--once", "-o", "json", "--mock", file, "--expected-gpus", "8"]);
    expect(r.code).to.equal(1);
    const report = JSON.parse(r.stdout) as { nodeFault: string; failingDevices: number[] };
    expect(report.nodeFault).to.match(/^gpu_vram_unrecoverable_errors: GPU 5:/);
    expect(report.failingDevices).to.deep.equal([5]);
  });

  it("bad flags are named", async () => {
    const r = await cli(["diagnose", "--once", "--skip-checks", "gpu_colour", "--mock", "/nonexistent"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/unknown check "gpu_colour"; checks are gpu_driver_status, /);
    const o = await cli(["diagnose", "--once", "-o", "yaml"]);
    expect(o.stderr).to.match(/--output "yaml" must be table or json/);
  });
});
