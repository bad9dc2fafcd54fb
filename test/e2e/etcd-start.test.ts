// The loopback cluster picks its ports before its processes bind them; on a busy machine one can be taken in between.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinaries } from "../../cluster/binaries.js";
import { startEtcd, startOnFreshPorts, type ClusterState } from "../../cluster/cluster.js";
import {
  freePort,
  isRunning,
  spawnLogged,
  stopProcess,
  waitHealthy,
  type RunningProcess,
} from "../../cluster/processes.js";

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("loopback cluster: components start on fresh ports", function () {
  this.timeout(120_000);
  let stateDir = "";
  let squatter: Server | undefined;
  const started: RunningProcess[] = [];

  afterEach(async () => {
    squatter?.close();
    await Promise.all(started.map((p) => stopProcess(p)));
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it("retries on fresh ports when its client port was taken after it was picked", async () => {
    const binDir = await ensureBinaries();
    stateDir = mkdtempSync(join(tmpdir(), "aibrix-ts-etcd-"));
    for (const sub of ["logs", "etcd"]) mkdirSync(join(stateDir, sub), { recursive: true });
    const taken = await freePort();
    squatter = await listen(taken);
    const state: ClusterState = {
      stateDir,
      binDir,
      server: "",
      kubeconfig: "",
      ports: { etcd: taken, etcdPeer: await freePort() },
      processes: [],
      startedAt: new Date().toISOString(),
    };
    const launch = (name: string, binary: string, args: string[]) => {
      const proc = spawnLogged(name, join(binDir, binary), args, join(stateDir, "logs", `${name}.log`));
      state.processes.push(proc);
      started.push(proc);
      return proc;
    };
    const messages: string[] = [];

    const etcd = await startEtcd(state, launch, (m) => messages.push(m));

    expect(state.ports.etcd).to.not.equal(taken);
    expect(messages.some((m) => /retrying on fresh ports/.test(m))).to.equal(true);
    expect(state.processes).to.deep.equal([etcd]);
    expect(readFileSync(join(stateDir, "logs", "etcd.log"), "utf8")).to.match(/address already in use/);
    const health = await fetch(`http://127.0.0.1:${state.ports.etcd}/health`);
    expect(await health.text()).to.include('"health":"true"');
  });

  /** An HTTP server on the port given, answering /healthz; with "hang" after the port, one that never answers. */
  const component = `
    const [port, mode] = process.argv.slice(1);
    require("node:http")
      .createServer((req, res) => { if (mode !== "hang") res.end("ok"); })
      .listen(Number(port), "127.0.0.1");`;

  function stateIn(dir: string, port: number): ClusterState {
    return { stateDir: dir, binDir: "", server: "", kubeconfig: "", ports: { c: port }, processes: [], startedAt: "" };
  }

  function startComponent(state: ClusterState, mode = "answer"): RunningProcess {
    const args = ["-e", component, String(state.ports.c), mode];
    const proc = spawnLogged("component", process.execPath, args, join(stateDir, "component.log"));
    state.processes.push(proc);
    started.push(proc);
    return proc;
  }

  it("retries any component that exits at once on a taken port, and keeps only the process that started", async () => {
    stateDir = mkdtempSync(join(tmpdir(), "aibrix-ts-component-"));
    const taken = await freePort();
    squatter = await listen(taken);
    const state = stateIn(stateDir, taken);
    const messages: string[] = [];

    const proc = await startOnFreshPorts({
      name: "component",
      state,
      log: (m) => messages.push(m),
      start: () => startComponent(state),
      healthy: (p) => waitHealthy(p, `http://127.0.0.1:${state.ports.c}/healthz`, { timeoutMs: 20_000 }),
      repick: async () => {
        state.ports.c = await freePort();
      },
    });

    expect(state.ports.c).to.not.equal(taken);
    expect(messages).to.deep.equal(["component exited while starting (attempt 1 of 3); retrying on fresh ports"]);
    expect(state.processes).to.deep.equal([proc]);
    expect(readFileSync(join(stateDir, "component.log"), "utf8")).to.match(/EADDRINUSE/);
  });

  it("does not retry a component that stays up without turning healthy", async () => {
    stateDir = mkdtempSync(join(tmpdir(), "aibrix-ts-component-"));
    const state = stateIn(stateDir, await freePort());
    let starts = 0;

    const failed = await startOnFreshPorts({
      name: "component",
      state,
      log: () => {},
      start: () => (starts++, startComponent(state, "hang")),
      healthy: (p) => waitHealthy(p, `http://127.0.0.1:${state.ports.c}/healthz`, { timeoutMs: 1_500 }),
      repick: async () => {
        state.ports.c = await freePort();
      },
    }).then(
      () => undefined,
      (err: Error) => err,
    );

    expect(failed?.message).to.match(/not healthy/);
    expect(starts).to.equal(1);
    expect(isRunning(state.processes[0]!)).to.equal(true);
  });
});
