import type { Command } from "commander";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseGoDuration } from "../api/semantics.js";
import {
  clusterStatus,
  isLoopbackCidr,
  LOOPBACK_POD_CIDR,
  NAMESPACED_POD_CIDR,
  podRangeIsLocal,
  startCluster,
  stopCluster,
  type LoopbackCluster,
} from "../cluster/index.js";
import { startEnginesServer } from "../cluster/engines-server.js";
import { freePort } from "../cluster/processes.js";

/** Where `cluster up` keeps a cluster's state when no --state-dir is given. */
export function defaultClusterStateDir(): string {
  return join(process.env.AIBRIX_TS_CACHE ?? join(homedir(), ".cache", "aibrix-ts"), "cluster");
}

/** Milliseconds of a Go-style duration option ("30s", "2m", "0"); the error names the option. */
function durationMs(option: string, text: string): number {
  const seconds = parseGoDuration(text);
  if (seconds === undefined)
    throw new Error(`${option} ${JSON.stringify(text)}: must be a duration such as 30s, 2m or 0`);
  return Math.round(seconds * 1000);
}

/**
 * The pod range for `cluster up`: the one asked for, else 10.244.0.0/16; with engines outside a network namespace
 * (where 10.244.0.0/16 is not local) a loopback range, so engines can listen on pod IPs.
 */
async function choosePodCidr(asked: string | undefined, engines: boolean): Promise<string> {
  if (asked) return asked;
  if (!engines || (await podRangeIsLocal(NAMESPACED_POD_CIDR))) return NAMESPACED_POD_CIDR;
  return LOOPBACK_POD_CIDR;
}

/** Runs the engine-pod launcher as a process of the cluster (`cluster engines`, recorded in state.json). */
async function launchEngines(c: LoopbackCluster, startupDelay: string): Promise<void> {
  const port = await freePort();
  const cli = process.argv[1] as string;
  c.state.ports.engines = port;
  await c.addProcess(
    "engines",
    process.execPath,
    [...process.execArgv, cli, "cluster", "engines", "--state-dir", c.state.stateDir, "--port", String(port)].concat([
      "--startup-delay",
      startupDelay,
    ]),
    `http://127.0.0.1:${port}/healthz`,
  );
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
    .option(
      "--pod-cidr <cidr>",
      `pod IP range kwok hands out (default ${NAMESPACED_POD_CIDR}; with --engines outside scripts/netns.sh ${LOOPBACK_POD_CIDR})`,
    )
    .option("--kuberay", "also run the KubeRay operator (RayCluster → head and worker pods)", false)
    .option("--engines", "run a vLLM simulator for every running pod labelled model.aibrix.ai/name, on its IP", false)
    .option("--engine-startup-delay <duration>", "time from pod start to engine ready (image pull, weights)", "0s")
    .action(
      async (opts: {
        stateDir: string;
        nodes?: string;
        extenderUrl?: string;
        extenderBind: boolean;
        podCidr?: string;
        kuberay: boolean;
        engines: boolean;
        engineStartupDelay: string;
      }) => {
        durationMs("--engine-startup-delay", opts.engineStartupDelay);
        const podCidr = await choosePodCidr(opts.podCidr, opts.engines);
        if (opts.engines && isLoopbackCidr(podCidr)) {
          console.error(
            `warning: pod range ${podCidr} is loopback, so Services and EndpointSlices get no endpoints for engine ` +
              `pods; run inside scripts/netns.sh (e.g. scripts/netns.sh bash) for ${NAMESPACED_POD_CIDR} pod IPs`,
          );
        }
        const c = await startCluster({
          stateDir: opts.stateDir,
          nodes: opts.nodes,
          podCidr,
          kuberay: opts.kuberay,
          gpuScheduler: opts.extenderUrl
            ? { urlPrefix: opts.extenderUrl, ...(opts.extenderBind ? { bindVerb: "bind" } : {}) }
            : undefined,
          stopOnExit: false,
          log: (line) => console.error(line),
        });
        try {
          if (opts.engines) await launchEngines(c, opts.engineStartupDelay);
        } catch (err) {
          await c.stop({ keepState: true });
          throw err;
        }
        c.api.close();
        console.log(`export KUBECONFIG=${c.kubeconfig}`);
      },
    );

  cluster
    .command("engines", { hidden: true })
    .description("run the engine-pod launcher for a cluster started by `cluster up` (it starts this itself)")
    .requiredOption("--state-dir <dir>", "the directory `cluster up` used")
    .requiredOption("--port <port>", "loopback port of /healthz and /engines")
    .option("--startup-delay <duration>", "time from pod start to engine ready", "0s")
    .action(async (opts: { stateDir: string; port: string; startupDelay: string }) => {
      const server = await startEnginesServer({
        stateDir: opts.stateDir,
        port: Number(opts.port),
        startupDelayMs: durationMs("--startup-delay", opts.startupDelay),
        log: (line) => console.error(`${new Date().toISOString()} ${line}`),
      });
      const shutdown = () => {
        void server.close().then(() => process.exit(0));
      };
      process.once("SIGTERM", shutdown);
      process.once("SIGINT", shutdown);
    });

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
