import { expect } from "chai";
import { spawn } from "node:child_process";
import { parse } from "yaml";
import { startSimulatorFleet, type EndpointEntry } from "../../../simulator/index.js";

describe("simulator fleet launcher", function () {
  this.timeout(30000);

  it("starts N engines on free ports and describes them as a router endpoint file", async () => {
    const fleet = await startSimulatorFleet({
      replicas: 3,
      model: "m",
      calibration: "a100-8b",
      adapters: ["a1"],
      speedup: 50,
    });
    try {
      const entries = parse(fleet.endpointFile()) as EndpointEntry[];
      expect(entries).to.have.length(3);
      expect(new Set(entries.map((e) => e.address)).size).to.equal(3);
      for (const e of entries) {
        expect(e).to.include({ model: "m", gpuType: "A100" });
        expect(e.adapters).to.deep.equal(["a1"]);
        const res = await fetch(`http://${e.address}/v1/models`);
        expect(res.status).to.equal(200);
      }
    } finally {
      await fleet.close();
    }
  });

  it("rejects adapters when LoRA is disabled, naming the fields", async () => {
    await startSimulatorFleet({ replicas: 1, model: "m", maxLoras: 0, adapters: ["a"] }).then(
      () => expect.fail("should reject"),
      (e: Error) => expect(e.message).to.match(/^adapters: a need LoRA slots, but maxLoras is 0/),
    );
    await startSimulatorFleet({ replicas: 1, model: "m", maxNumSeqs: 0 }).then(
      () => expect.fail("should reject"),
      (e: Error) => expect(e.message).to.equal("maxNumSeqs: 0 must be a positive integer"),
    );
  });

  it("listens on given 127.0.0.x addresses", async () => {
    const fleet = await startSimulatorFleet({ replicas: 2, hosts: ["127.0.0.2", "127.0.0.3"], port: 0, model: "m" });
    try {
      expect(fleet.endpoints().map((e) => e.address.split(":")[0])).to.deep.equal(["127.0.0.2", "127.0.0.3"]);
    } finally {
      await fleet.close();
    }
    // One host and a fixed port: consecutive ports. (A free port's neighbour can be taken by another process on a
    // shared machine, so try a few bases.)
    let ports: number[] | null = null;
    for (let attempt = 0; attempt < 5 && !ports; attempt++) {
      const probe = await startSimulatorFleet({ replicas: 1, model: "m" });
      const base = probe.simulators[0]!.port;
      await probe.close();
      try {
        const consecutive = await startSimulatorFleet({ replicas: 2, model: "m", port: base });
        ports = consecutive.simulators.map((s) => s.port);
        await consecutive.close();
        expect(ports).to.deep.equal([base, base + 1]);
      } catch (e) {
        if (!/EADDRINUSE/.test(String(e))) throw e;
      }
    }
    expect(ports).to.have.length(2);
    await startSimulatorFleet({ replicas: 2, hosts: ["127.0.0.2"], model: "m" }).then(
      () => expect.fail("should reject"),
      (e: Error) => expect(e.message).to.equal("hosts: 1 addresses given for 2 replicas; give one per replica"),
    );
  });

  it("`aibrix-ts simulator --replicas 2` prints the endpoint file and serves until stopped", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", "simulator", "--model", "m", "--replicas", "2", "--speedup", "50"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      let out = "";
      const entries = await new Promise<EndpointEntry[]>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const parsed = parse(out) as EndpointEntry[] | null;
          if (Array.isArray(parsed) && parsed.length === 2 && out.endsWith("\n")) resolve(parsed);
        });
        child.once("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const res = await fetch(`http://${entries[1]!.address}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", prompt: "hi", max_tokens: 2 }),
      });
      expect(res.status).to.equal(200);
    } finally {
      child.kill("SIGTERM");
    }
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    expect(code).to.equal(0);
  });

  it("`--calibration` chooses the engine; `--profile`, its old name, still works with a deprecation warning", async () => {
    async function firstEntry(flag: string): Promise<{ entry: EndpointEntry; stderr: string }> {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "cli/main.ts", "simulator", "--model", "m", flag, "l4-8b", "--speedup", "50"],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      try {
        const entries = await new Promise<EndpointEntry[]>((resolve, reject) => {
          child.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            const parsed = parse(out) as EndpointEntry[] | null;
            if (Array.isArray(parsed) && parsed.length === 1 && out.endsWith("\n")) resolve(parsed);
          });
          child.once("exit", (code) => reject(new Error(`exited ${code}: ${out}${stderr}`)));
        });
        return { entry: entries[0]!, stderr };
      } finally {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
    }
    const current = await firstEntry("--calibration");
    expect(current.entry.gpuType).to.equal("L4");
    expect(current.stderr).to.not.include("deprecated");
    const old = await firstEntry("--profile");
    expect(old.entry.gpuType).to.equal("L4");
    expect(old.stderr).to.include("warning: --profile is deprecated; use --calibration (same values)");
  });
});
