import { expect } from "chai";
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const validDir = path.join(root, "test/fixtures/manifests/valid");

async function cli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = promisify(execFile);
  const child = run(process.execPath, ["--import", "tsx", path.join(root, "cli/main.ts"), ...args], { cwd: root });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("aibrix-ts validate (CLI)", function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-validate-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 0 on a directory of valid manifests", async () => {
    const r = await cli(["validate", "-f", validDir]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/13 documents: 13 valid, 0 invalid, 0 skipped/);
  });

  it("prints each problem of the one bad document with file, index, kind/name, path and rule, and exits 1", async () => {
    cpSync(validDir, dir, { recursive: true });
    writeFileSync(
      path.join(dir, "zz-bad.yaml"),
      [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata: {name: unrelated}",
        "---",
        "apiVersion: autoscaling.aibrix.ai/v1alpha1",
        "kind: PodAutoscaler",
        "metadata: {name: broken}",
        "spec:",
        "  scaleTargetRef: {kind: Deployment, name: d}",
        "  minReplicas: 5",
        "  maxReplicas: 2",
        "  scalingStrategy: KPA",
        "  metricsSources:",
        "    - {metricSourceType: resource, targetMetric: cpu, targetValue: 'abc'}",
      ].join("\n"),
    );
    const r = await cli(["validate", "-f", dir]);
    expect(r.code).to.equal(1);
    const bad = path.join(dir, "zz-bad.yaml");
    expect(r.stdout).to.include(`${bad}[1] PodAutoscaler/broken: spec.minReplicas: 5 breaks rule "min-le-max"`);
    expect(r.stdout).to.include(
      `${bad}[1] PodAutoscaler/broken: spec.metricsSources[0].targetValue: "abc" breaks rule "positive-number"`,
    );
    expect(r.stdout).to.include(`${bad}[0] ConfigMap/unrelated: skipped`);
    expect(r.stdout).to.match(/15 documents: 13 valid, 1 invalid, 1 skipped/);
    const problemLines = r.stdout.split("\n").filter((l) => l.includes("breaks rule"));
    expect(problemLines.every((l) => l.startsWith(`${bad}[1]`))).to.equal(true);
  });

  it("reads standard input with -f - and reports YAML syntax errors as invalid", async () => {
    const r = await cli(["validate", "-f", "-"], "kind: [unclosed\n");
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include("yaml-syntax");
  });

  it("a missing path is a clear error, not a crash", async () => {
    const r = await cli(["validate", "-f", path.join(dir, "nope.yaml")]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include("no such file or directory");
  });

  it("--json output lists outcomes", async () => {
    const r = await cli(["validate", "-f", path.join(validDir, "kvcaches.yaml"), "-o", "json"]);
    expect(r.code).to.equal(0);
    const reports = JSON.parse(r.stdout) as { outcome: string }[];
    expect(reports.map((x) => x.outcome)).to.deep.equal(["valid", "valid", "valid"]);
  });

  it("--help and --version work", async () => {
    const help = await cli(["--help"]);
    expect(help.stdout).to.include("validate");
    const version = await cli(["--version"]);
    expect(version.stdout.trim()).to.match(/^\d+\.\d+\.\d+/);
  });
});
