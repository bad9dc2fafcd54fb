// The loopback cluster picks its ports before its processes bind them; on a busy machine one can be taken in between.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinaries } from "../../cluster/binaries.js";
import { startEtcd, type ClusterState } from "../../cluster/cluster.js";
import { freePort, spawnLogged, stopProcess, type RunningProcess } from "../../cluster/processes.js";

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("loopback cluster: etcd start", function () {
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
});
