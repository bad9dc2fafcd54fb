// `aibrix-ts extender --no-cluster` as a process: it serves the verbs and /metrics (its own and its process's) on the
// port it logs, and exits 0 on SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

describe("aibrix-ts extender (CLI process)", function () {
  this.timeout(60_000);
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child?.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  });

  it("serves filter and /metrics with process metrics, and exits 0 on SIGTERM", async () => {
    child = spawn(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", "extender", "--no-cluster", "--host", "127.0.0.1", "--port", "0"],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    const proc = child;
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      proc.stdout!.setEncoding("utf8").on("data", (c: string) => {
        out += c;
        const m = /"url":"(http:\/\/[^"]+)".*"extender listening"/.exec(out);
        if (m) resolve(m[1]!);
      });
      proc.once("exit", (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
    });
    const filter = await fetch(`${url}/scheduler/filter`, {
      method: "POST",
      body: JSON.stringify({ Pod: { metadata: { name: "p" } }, Nodes: null, NodeNames: ["n1"] }),
    });
    expect(filter.status).to.equal(200);
    // A pod without a model label passes through untouched.
    expect(await filter.json()).to.include({ Error: "" });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).to.match(/^aibrix_extender_/m);
    expect(metrics).to.match(/^process_cpu_seconds_total \d/m);
    expect(metrics).to.match(/^nodejs_eventloop_lag_p99_seconds \d/m);
    const exited = new Promise<number | null>((resolve) => proc.once("exit", resolve));
    proc.kill("SIGTERM");
    expect(await exited).to.equal(0);
  });
});
