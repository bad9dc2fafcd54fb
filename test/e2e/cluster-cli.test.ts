// `aibrix-ts cluster up|status|down` as a person runs it: `up` returns while the control plane keeps running
// (detached processes), `status` finds it from its state directory, `down` stops every process by PID.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ensureBinaries } from "../../cluster/binaries.js";
import { isRunning } from "../../cluster/processes.js";
import { readClusterState, stopCluster, type ClusterStatus } from "../../cluster/index.js";
import { waitFor } from "./env.js";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

function cli(...args: string[]) {
  return run(process.execPath, ["--import", "tsx", CLI, ...args], { maxBuffer: 16 * 1024 * 1024 });
}

describe("e2e: aibrix-ts cluster up / status / down", function () {
  const dir = mkdtempSync(join(tmpdir(), "aibrix-ts-cli-cluster-"));
  const stateDir = join(dir, "state");

  before(async function () {
    this.timeout(60 * 60_000); // a cold machine builds the binaries first
    await ensureBinaries();
  });

  after(async function () {
    this.timeout(30_000);
    await stopCluster(stateDir); // in case a test failed between up and down
    rmSync(dir, { recursive: true, force: true });
  });

  it("up starts a cluster that outlives the command, status reports it, kubectl reaches it, down stops it", async function () {
    // With --engines: a model pod created through kubectl gets an engine on its IP after the start-up delay.
    this.timeout(180_000);
    const nodes = join(dir, "nodes.yaml");
    writeFileSync(nodes, "groups:\n  - { name: gpu-l4, count: 2, gpusPerNode: 4, product: NVIDIA-L4 }\n");

    const up = await cli(
      ...["cluster", "up", "--state-dir", stateDir, "--nodes", nodes, "--engines", "--engine-startup-delay", "1s"],
    );
    expect(up.stdout.trim()).to.equal(`export KUBECONFIG=${join(stateDir, "admin.kubeconfig")}`);
    expect(up.stderr).to.match(/2 fake nodes ready/);

    const status = JSON.parse(
      (await cli("cluster", "status", "--state-dir", stateDir, "--json")).stdout,
    ) as ClusterStatus;
    expect(status.apiserverReady).to.equal(true);
    expect(status.processes.map((p) => p.name)).to.include.members(["etcd", "kube-apiserver", "kwok"]);
    for (const p of status.processes) expect(p.running, p.name).to.equal(true);

    const kubectl = join(await ensureBinaries(), "kubectl");
    const got = await run(kubectl, ["--kubeconfig", status.kubeconfig, "get", "nodes", "-o", "name"]);
    expect(got.stdout.trim().split("\n").sort()).to.deep.equal(["node/gpu-l4-0", "node/gpu-l4-1"]);

    expect(status.processes.map((p) => p.name)).to.include("engines");
    const pod = join(dir, "pod.json");
    writeFileSync(
      pod,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "tiny", namespace: "default", labels: { "model.aibrix.ai/name": "tiny" } },
        spec: { containers: [{ name: "vllm", image: "vllm/vllm-openai", command: ["vllm", "serve", "/m"] }] },
      }),
    );
    await run(kubectl, ["--kubeconfig", status.kubeconfig, "apply", "-f", pod]);
    const enginesPort = readClusterState(stateDir)?.ports.engines;
    const engine = await waitFor("the pod's engine running", 30_000, async () => {
      const list = (await (await fetch(`http://127.0.0.1:${enginesPort}/engines`)).json()) as {
        pod: string;
        url: string;
        calibration: string;
        state: string;
      }[];
      return list.find((e) => e.pod === "default/tiny" && e.state === "running");
    });
    expect(engine.calibration).to.equal("l4-8b");
    // Inside scripts/netns.sh pods get 10.244.0.0/16 addresses; outside, a loopback range and a warning.
    if (process.env.AIBRIX_TS_NETNS) {
      expect(engine.url).to.match(/^http:\/\/10\.244\./);
      expect(up.stderr).to.not.match(/warning: pod range/);
    } else {
      expect(engine.url).to.match(/^http:\/\/127\.244\./);
      expect(up.stderr).to.match(/warning: pod range 127\.244\.0\.0\/16 is loopback, so Services .* get no endpoints/);
    }
    const models = (await (await fetch(`${engine.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).to.deep.equal(["tiny"]);

    const down = await cli("cluster", "down", "--state-dir", stateDir);
    expect(down.stdout).to.include("stopped the cluster");
    // Stopped means gone or a zombie awaiting its reaper (the processes were detached from `up`, which has exited).
    for (const p of status.processes) expect(isRunning(p), `${p.name} (pid ${p.pid}) still running`).to.equal(false);
    expect(existsSync(stateDir)).to.equal(false);

    const after = await cli("cluster", "status", "--state-dir", stateDir).then(
      () => undefined,
      (e: Error & { code?: number; stdout?: string }) => e,
    );
    expect(after?.code).to.equal(1);
    expect(after?.stdout).to.match(/no cluster recorded/);
  });
});
