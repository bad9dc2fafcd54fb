// `aibrix-ts router --workers 2` as real processes in front of two simulator engines: both workers serve the one
// port, /metrics sums them whichever answers, a killed worker is replaced (and the primary says so), and SIGTERM to
// the primary stops every worker.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { endpointEntry, endpointFileText, startSimulator, type RunningSimulator } from "../../../simulator/index.js";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One request on a connection of its own, so the primary hands it to the next worker. */
function request(
  port: number,
  method: string,
  pathname: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method,
        path: pathname,
        agent: false,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Polls `cond` every 50 ms until it holds, or fails naming `what`. */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const workerPid = (readyz: string) => Number(/pid (\d+)\)/.exec(readyz)?.[1]);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("aibrix-ts router --workers 2 (real processes, two simulator engines)", function () {
  this.timeout(180_000);
  let engines: RunningSimulator[] = [];
  let dir: string;
  let primary: ChildProcess;
  let port: number;
  let stderr = "";

  before(async () => {
    engines = await Promise.all([0, 1].map(() => startSimulator({ model: "pool-model", speedup: 20 })));
    dir = await mkdtemp(path.join(os.tmpdir(), "router-workers-"));
    const file = path.join(dir, "endpoints.yaml");
    await writeFile(file, endpointFileText(engines.map((e) => endpointEntry(e))));
    port = await freePort();
    primary = spawn(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", "router", "--endpoints", file, "--host", "127.0.0.1"].concat([
        "--port",
        String(port),
        "--workers",
        "2",
        "--log-level",
        "warn",
      ]),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    primary.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitFor(
      "the pool to start",
      () => /2 workers listening on port/.test(stderr) || primary.exitCode !== null,
      90_000,
    );
    expect(primary.exitCode, stderr).to.equal(null);
  });

  after(async () => {
    if (primary?.exitCode === null) primary.kill("SIGKILL");
    await Promise.all(engines.map((e) => e.close()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("warns at start that the prefix index and in-flight counts are per worker without Redis", () => {
    expect(stderr).to.match(/--workers 2 without --redis-url: .*per worker/);
  });

  it("serves from both workers on one port, and /metrics sums every worker's requests whichever answers", async () => {
    const pids = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const ready = await request(port, "GET", "/readyz");
      expect(ready.status).to.equal(200);
      expect(ready.text).to.match(/^ready: 2 endpoints \(worker [12] of 2, pid \d+\)$/);
      pids.add(workerPid(ready.text));
    }
    expect(pids.size).to.equal(2);
    const body = { model: "pool-model", prompt: "hello", max_tokens: 2 };
    for (let i = 0; i < 20; i++) expect((await request(port, "POST", "/v1/completions", body)).status).to.equal(200);
    for (let i = 0; i < 4; i++) {
      const metrics = await request(port, "GET", "/metrics");
      const served = [...metrics.text.matchAll(/^aibrix_router_requests_total\{[^}]*status="200"[^}]*\} (\d+)$/gm)];
      expect(served.reduce((n, m) => n + Number(m[1]), 0)).to.equal(20);
      // Process metrics are summed too: the resident memory of two processes.
      expect(metrics.text).to.match(/^process_resident_memory_bytes \d+/m);
    }
  });

  it("replaces a worker that dies, saying so, and keeps serving", async () => {
    const victim = workerPid((await request(port, "GET", "/readyz")).text);
    process.kill(victim, "SIGKILL");
    const line = new RegExp(`worker [12] \\(pid ${victim}\\) exited with signal SIGKILL; starting a new one`);
    await waitFor("the restart line", () => line.test(stderr), 30_000);
    const pids = new Set<number>();
    await waitFor(
      "a new worker serving",
      async () => {
        const ready = await request(port, "GET", "/readyz");
        if (ready.status === 200) pids.add(workerPid(ready.text));
        return pids.size === 2 && !pids.has(victim);
      },
      60_000,
    );
    const res = await request(port, "POST", "/v1/completions", { model: "pool-model", prompt: "again", max_tokens: 2 });
    expect(res.status).to.equal(200);
  });

  it("stops every worker, and then itself with code 0, on SIGTERM", async () => {
    const pids = new Set<number>();
    await waitFor(
      "both workers answering",
      async () => {
        pids.add(workerPid((await request(port, "GET", "/readyz")).text));
        return pids.size === 2;
      },
      30_000,
    );
    const exited = new Promise<number | null>((resolve) => primary.once("exit", (code) => resolve(code)));
    primary.kill("SIGTERM");
    expect(await exited).to.equal(0);
    for (const pid of pids) expect(alive(pid), `worker ${pid}`).to.equal(false);
  });
});
