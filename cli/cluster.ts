import type { Command } from "commander";
import { homedir } from "node:os";
import { join } from "node:path";
import { clusterStatus, startCluster, stopCluster } from "../cluster/index.js";

/** Where `cluster up` keeps a cluster's state when no --state-dir is given. */
export function defaultClusterStateDir(): string {
  return join(process.env.AIBRIX_TS_CACHE ?? join(homedir(), ".cache", "aibrix-ts"), "cluster");
}

export function registerCluster(program: Command): void {
  const cluster = program
    .command("cluster")
    .description("a real Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver, controllers, schedulers, kwok)");

  cluster
    .command("up")
    .description("build the binaries if needed, start the control plane with fake GPU nodes, and write a kubeconfig")
    .option("--state-dir <dir>", "certificates, kubeconfig, logs and PIDs", defaultClusterStateDir())
    .option("--nodes <file>", "YAML of fake node groups (default: cluster/gpu-nodes.yaml)")
    .option("--extender-url <url>", "start the aibrix-gpu-scheduler profile against this extender URL prefix")
    .option("--extender-bind", "let the extender bind pods (bindVerb: bind)", false)
    .option("--pod-cidr <cidr>", "pod IP range kwok hands out", "10.244.0.0/16")
    .option("--kuberay", "also run the KubeRay operator (RayCluster → head and worker pods)", false)
    .action(
      async (opts: {
        stateDir: string;
        nodes?: string;
        extenderUrl?: string;
        extenderBind: boolean;
        podCidr: string;
        kuberay: boolean;
      }) => {
        const c = await startCluster({
          stateDir: opts.stateDir,
          nodes: opts.nodes,
          podCidr: opts.podCidr,
          kuberay: opts.kuberay,
          gpuScheduler: opts.extenderUrl
            ? { urlPrefix: opts.extenderUrl, ...(opts.extenderBind ? { bindVerb: "bind" } : {}) }
            : undefined,
          stopOnExit: false,
          log: (line) => console.error(line),
        });
        c.api.close();
        console.log(`export KUBECONFIG=${c.kubeconfig}`);
      },
    );

  cluster
    .command("down")
    .description("stop every process of the cluster (by PID) and delete its state directory")
    .option("--state-dir <dir>", "the directory `cluster up` used", defaultClusterStateDir())
    .action(async (opts: { stateDir: string }) => {
      const stopped = await stopCluster(opts.stateDir);
      console.log(stopped ? `stopped the cluster in ${opts.stateDir}` : `no cluster recorded in ${opts.stateDir}`);
    });

  cluster
    .command("status")
    .description("show the cluster's processes and whether kube-apiserver is ready (exit 1 when not)")
    .option("--state-dir <dir>", "the directory `cluster up` used", defaultClusterStateDir())
    .option("--json", "print JSON", false)
    .action(async (opts: { stateDir: string; json: boolean }) => {
      const status = await clusterStatus(opts.stateDir);
      if (!status) {
        console.log(`no cluster recorded in ${opts.stateDir} (run: aibrix-ts cluster up)`);
        process.exitCode = 1;
        return;
      }
      if (opts.json) console.log(JSON.stringify(status, null, 2));
      else {
        console.log(`server      ${status.server} (${status.apiserverReady ? "ready" : "NOT ready"})`);
        console.log(`kubeconfig  ${status.kubeconfig}`);
        for (const p of status.processes) {
          console.log(`${p.name.padEnd(26)} pid ${String(p.pid).padEnd(8)} ${p.running ? "running" : "stopped"}`);
        }
      }
      if (!status.apiserverReady || status.processes.some((p) => !p.running)) process.exitCode = 1;
    });
}
