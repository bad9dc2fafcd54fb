// `aibrix-ts webhooks` as its own process (how the control-plane harness runs it out of cluster): it serves HTTPS
// with the CA it writes out, loads --config, and stops cleanly on SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { httpsRequest } from "./helpers.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** `aibrix-ts webhooks --no-cluster <args>` as a child process with piped output. */
function webhooksCli(args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ["--import", "tsx", path.join(root, "cli/main.ts"), "webhooks", "--no-cluster", ...args],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
}

describe("aibrix-ts webhooks (CLI process)", function () {
  this.timeout(90_000);
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-webhooks-"));
  });
  afterEach(() => {
    if (child?.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves with --no-cluster, writes its CA, applies --config and exits 0 on SIGTERM", async () => {
    const config = path.join(dir, "webhooks.yaml");
    writeFileSync(config, "sidecar:\n  image: registry.local/runtime:7\n");
    const caFile = path.join(dir, "ca.pem");
    child = webhooksCli(["--host", "127.0.0.1", "--port", "0", "--config", config, "--write-ca", caFile]);
    const proc = child;
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      proc.stdout?.setEncoding("utf8").on("data", (c: string) => {
        out += c;
        const m = /"port":(\d+),.*"admission webhooks listening"/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.on("exit", (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
    });
    for (let i = 0; i < 50 && !readFileSync(caFile, { flag: "a+" }).length; i++)
      await new Promise((r) => setTimeout(r, 100));
    const ca = readFileSync(caFile, "utf8");
    const review = {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "cli-1",
        kind: { group: "", version: "v1", kind: "Pod" },
        operation: "CREATE",
        object: {
          metadata: {
            labels: { "model.aibrix.ai/name": "m" },
            annotations: { "model.aibrix.ai/sidecar-injection": "true" },
          },
          spec: { containers: [{ name: "e", image: "vllm" }] },
        },
      },
    };
    const reply = await httpsRequest(`https://127.0.0.1:${port}/mutate`, { ca, body: JSON.stringify(review) });
    expect(reply.status).to.equal(200);
    const response = reply.json().response as { uid: string; patch: string };
    expect(response.uid).to.equal("cli-1");
    expect(Buffer.from(response.patch, "base64").toString()).to.include("registry.local/runtime:7");
    const metrics = await httpsRequest(`https://127.0.0.1:${port}/metrics`, { ca, method: "GET" });
    expect(metrics.status).to.equal(200);
    expect(metrics.body).to.match(/^process_cpu_seconds_total \d/m);
    expect(metrics.body).to.match(/^nodejs_eventloop_lag_p99_seconds \d/m);
    const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve));
    proc.kill("SIGTERM");
    expect(await exited).to.equal(0);
  });

  it("refuses a bad --config with the field and rule, exit 1", async () => {
    const config = path.join(dir, "bad.yaml");
    writeFileSync(config, "sidecar:\n  port: 0\n");
    child = webhooksCli(["--port", "0", "--config", config]);
    let err = "";
    child.stderr?.setEncoding("utf8").on("data", (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve) => child!.on("exit", resolve));
    expect(code).to.equal(1);
    expect(err).to.match(/sidecar\.port: 0 breaks rule "port 1\.\.65535"/);
  });
});
