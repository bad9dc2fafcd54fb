// Finds (building when missing) the control-plane binaries: kube-apiserver, kube-controller-manager, kube-scheduler,
// etcd, kwok and helm. The build is cluster/build.sh; it is idempotent and prints BIN_DIR=<dir> last.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { harnessFile } from "./source-file.js";

export const BUILD_SCRIPT = harnessFile("build.sh");
export const BINARIES = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "etcd",
  "kubectl",
  "kwok",
  "helm",
  "ray-operator",
] as const;
export type BinaryName = (typeof BINARIES)[number];

export interface EnsureOptions {
  /** Receives each progress line of a build (default: written to stderr). */
  onProgress?: (line: string) => void;
  /** Only report where the binaries would be; never build (throws when they are missing). */
  noBuild?: boolean;
}

function missing(binDir: string): BinaryName[] {
  return BINARIES.filter((b) => !existsSync(join(binDir, b)));
}

async function runScript(args: string[], onLine: (line: string) => void): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn("bash", [BUILD_SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let pending = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      pending += c;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (pending) onLine(pending);
      const dir = /BIN_DIR=(.+)/.exec(stdout)?.[1]?.trim();
      if (code === 0 && dir) resolve(dir);
      else reject(new Error(`${BUILD_SCRIPT} ${args.join(" ")} failed (exit ${code}); see the output above`));
    });
  });
}

/**
 * The directory holding every binary. `AIBRIX_TS_K8S_BIN_DIR` wins (binaries built elsewhere); otherwise the build
 * script's cache, built first when incomplete (a cold build takes tens of minutes; progress goes to `onProgress`).
 */
export async function ensureBinaries(opts: EnsureOptions = {}): Promise<string> {
  const onLine = opts.onProgress ?? ((line: string) => process.stderr.write(line + "\n"));
  const override = process.env.AIBRIX_TS_K8S_BIN_DIR;
  if (override) {
    const absent = missing(override);
    if (absent.length > 0) {
      throw new Error(`AIBRIX_TS_K8S_BIN_DIR=${override} lacks ${absent.join(", ")}: build them or unset the variable`);
    }
    return override;
  }
  const planned = await runScript(["--print"], onLine);
  if (existsSync(join(planned, ".complete"))) return planned;
  if (opts.noBuild) {
    throw new Error(`control-plane binaries are not built yet (${planned}): run ${BUILD_SCRIPT}`);
  }
  return await runScript([], onLine);
}
