// `aibrix-ts runtime --port 8080` as the webhook injects it: env INFERENCE_ENGINE and INFERENCE_ENGINE_ENDPOINT.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { startSimulator, type RunningSimulator } from "../../../simulator/index.js";
import { freePort } from "../../../cluster/processes.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

describe("aibrix-ts runtime (CLI)", function () {
  this.timeout(60_000);
  let engine: RunningSimulator;
  let child: ChildProcess | undefined;

  before(async () => {
    engine = await startSimulator({ model: "base" });
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await engine.close();
  });

  it("serves /ready and the engine's metrics under aibrix:* names, from the injected env alone", async () => {
    const port = await freePort();
    child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(root, "cli/main.ts"), "runtime", "--host", "127.0.0.1", "--port", String(port)],
      {
        cwd: root,
        env: { ...process.env, INFERENCE_ENGINE: "vllm", INFERENCE_ENGINE_ENDPOINT: engine.url },
        stdio: "ignore",
      },
    );
    const base = `http://127.0.0.1:${port}`;
    let ready: Response | undefined;
    for (let i = 0; i < 200 && !ready; i++) {
      ready = await fetch(`${base}/ready`).catch(() => undefined);
      if (!ready) await sleep(100);
    }
    expect(ready?.status).to.equal(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).to.match(/^aibrix:queue_size\{[^}]*\} \d/m);
    const exited = new Promise<number | null>((r) => child!.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).to.equal(0);
  });
});
