// `aibrix-ts router --redis-url … --admin-port 0` as two real processes sharing one Redis: a user created through one
// replica's users API is limited across both.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { endpointEntry, endpointFileText, startSimulator, type RunningSimulator } from "../../../../simulator/index.js";
import { startRedis, type RunningRedis } from "../../../support/redis-server.js";

interface RouterProcess {
  child: ChildProcess;
  url: string;
  adminUrl: string;
}

async function startRouterProcess(endpointsFile: string, redisUrl: string): Promise<RouterProcess> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "cli/main.ts",
      "router",
      "--endpoints",
      endpointsFile,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--admin-port",
      "0",
      "--log-level",
      "warn",
    ],
    { env: { ...process.env, REDIS_URL: redisUrl }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  const found = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`router did not start: ${err}`)), 60_000);
    child.once("exit", (code) => reject(new Error(`router exited with ${code}: ${err}`)));
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const url = /listening on (http:\/\/\S+)/.exec(err)?.[1];
      const adminUrl = /flow-control metrics on (http:\/\/\S+)/.exec(err)?.[1];
      if (url && adminUrl) {
        clearTimeout(timer);
        resolve({ url, adminUrl });
      }
    });
  });
  return { child, ...found };
}

async function stop(p: RouterProcess): Promise<void> {
  if (p.child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => p.child.kill("SIGKILL"), 5000);
    p.child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    p.child.kill("SIGTERM");
  });
}

describe("aibrix-ts router with flow-control flags (two processes, one Redis)", function () {
  this.timeout(120_000);
  let redis: RunningRedis;
  let sim: RunningSimulator;
  let dir: string;
  const routers: RouterProcess[] = [];

  before(async () => {
    redis = await startRedis();
    sim = await startSimulator({ model: "cli-model", speedup: 20 });
    dir = await mkdtemp(path.join(os.tmpdir(), "router-flow-control-cli-"));
    const file = path.join(dir, "endpoints.yaml");
    await writeFile(file, endpointFileText([endpointEntry(sim)]));
    routers.push(...(await Promise.all([startRouterProcess(file, redis.url), startRouterProcess(file, redis.url)])));
  });
  after(async () => {
    await Promise.all(routers.map(stop));
    await sim?.close();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("shares a user created on one replica and enforces its RPM across both", async () => {
    const created = await fetch(`${routers[0]!.adminUrl}/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "cli-user", rpm: 6 }),
    });
    expect(created.status).to.equal(201);
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const res = await fetch(`${routers[i % 2]!.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", user: "cli-user" },
          body: JSON.stringify({ model: "cli-model", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
        });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses.filter((s) => s === 200).length).to.equal(6);
    expect(statuses.filter((s) => s === 429).length).to.equal(6);
    const health = await (await fetch(`${routers[1]!.adminUrl}/healthz`)).json();
    expect(health).to.deep.equal({ ok: true, redis: "up" });
  });

  it("reports its own process beside the routing metrics on /metrics", async () => {
    const text = await (await fetch(`${routers[0]!.url}/metrics`)).text();
    expect(text).to.match(/^aibrix_router_requests_total\{/m);
    expect(text).to.match(/^process_cpu_seconds_total \d/m);
    expect(text).to.match(/^process_resident_memory_bytes \d/m);
    expect(text).to.match(/^nodejs_eventloop_lag_p99_seconds \d/m);
  });
});
