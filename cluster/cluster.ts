// The loopback Kubernetes control plane: etcd → kube-apiserver → kube-controller-manager, kube-scheduler, kwok, and
// optionally a second kube-scheduler (profile aibrix-gpu-scheduler) wired to our extender. Plain processes on
// 127.0.0.1 with free ports, health-checked before use, stopped by PID. `state.json` in the state directory lets
// `cluster status`/`cluster down` find a cluster started by another process.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse, stringify } from "yaml";
import { Scheduling } from "../api/labels.js";
import { KubeApi } from "./api.js";
import { ensureBinaries } from "./binaries.js";
import { CertificateAuthority, createClusterPki, type ClusterPki, type KeyPairPem } from "./certs.js";
import {
  DEFAULT_NODE_GROUPS_FILE,
  KWOK_NODE_ANNOTATION,
  KWOK_NODE_VALUE,
  loadNodeGroups,
  nodeObjects,
  type NodeGroup,
} from "./nodes.js";
import {
  freePort,
  isRunning,
  killNow,
  probe,
  spawnLogged,
  stopProcess,
  waitHealthy,
  type RunningProcess,
} from "./processes.js";
import { chartSchedulerProfile, schedulerConfigYaml, type ExtenderOptions } from "./scheduler-config.js";

export interface ClusterOptions {
  /** Where certificates, kubeconfigs, logs, etcd data and state.json go (default: a fresh temp directory). */
  stateDir?: string;
  /** Directory with the binaries (default: build/find them via cluster/build.sh). */
  binDir?: string;
  /** Fake nodes: groups, or a YAML file of groups (default cluster/gpu-nodes.yaml); [] for none. */
  nodes?: NodeGroup[] | string;
  /** When set, a second kube-scheduler serves the aibrix-gpu-scheduler profile through this extender. */
  gpuScheduler?: ExtenderOptions;
  /** Also run the KubeRay operator (its CRDs applied first), so RayClusters get head and worker pods. */
  kuberay?: boolean;
  /** Pod IP range kwok hands out (default 10.244.0.0/16, apart from the service range 10.96.0.0/16). */
  podCidr?: string;
  /** Kill every process when this Node.js process exits (default true; `cluster up` turns it off). */
  stopOnExit?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What a running cluster looks like on disk (state.json), enough to reach it or stop it from another process. */
export interface ClusterState {
  stateDir: string;
  binDir: string;
  server: string;
  kubeconfig: string;
  ports: Record<string, number>;
  processes: RunningProcess[];
  startedAt: string;
}

const STATE_FILE = "state.json";
const SERVICE_CIDR = "10.96.0.0/16";

function writeSecret(file: string, text: string): string {
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

function kubeconfigYaml(server: string, caPem: string, user: string, client: KeyPairPem): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "loopback", cluster: { server, "certificate-authority-data": b64(caPem) } }],
    users: [
      { name: user, user: { "client-certificate-data": b64(client.certPem), "client-key-data": b64(client.keyPem) } },
    ],
    contexts: [{ name: "loopback", context: { cluster: "loopback", user, namespace: "default" } }],
    "current-context": "loopback",
  });
}

export function readClusterState(stateDir: string): ClusterState | undefined {
  const file = join(stateDir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as ClusterState;
}

function saveState(state: ClusterState): void {
  writeFileSync(join(state.stateDir, STATE_FILE), JSON.stringify(state, null, 2) + "\n");
}

/** A started cluster: its state, an admin API client, and the CA (to issue serving certs for webhooks in tests). */
export class LoopbackCluster {
  readonly api: KubeApi;
  private exitHook: (() => void) | undefined;
  private podAddressesWarm = false;

  constructor(
    readonly state: ClusterState,
    readonly pki: ClusterPki,
    private readonly log: (line: string) => void,
  ) {
    this.api = new KubeApi({
      server: state.server,
      caPem: pki.ca.certPem,
      certPem: pki.admin.certPem,
      keyPem: pki.admin.keyPem,
    });
  }

  get kubeconfig(): string {
    return this.state.kubeconfig;
  }

  get ca(): CertificateAuthority {
    return CertificateAuthority.fromPem(this.pki.ca);
  }

  /** Registers a SIGKILL of every process at Node.js exit (a crashed test run leaves nothing behind). */
  stopOnExit(): void {
    if (this.exitHook) return;
    this.exitHook = () => {
      for (const p of [...this.state.processes].reverse()) killNow(p);
    };
    process.once("exit", this.exitHook);
  }

  /**
   * Runs a process of the caller's as part of the cluster: logged under logs/, recorded in state.json (so `cluster
   * down` stops it by PID) and, given `healthUrl`, waited for until it answers 200.
   */
  async addProcess(name: string, command: string, args: string[], healthUrl?: string): Promise<RunningProcess> {
    const proc = spawnLogged(name, command, args, join(this.state.stateDir, "logs", `${name}.log`));
    this.state.processes.push(proc);
    saveState(this.state);
    if (healthUrl) await waitHealthy(proc, healthUrl);
    this.log(`${name} ready`);
    return proc;
  }

  /** Starts (or restarts) the aibrix-gpu-scheduler kube-scheduler against `extender`. */
  async startGpuScheduler(extender: ExtenderOptions, profile?: Record<string, unknown>): Promise<void> {
    const old = this.state.processes.find((p) => p.name === "kube-scheduler-gpu");
    if (old) {
      await stopProcess(old);
      this.state.processes = this.state.processes.filter((p) => p !== old);
    }
    await this.startScheduler("kube-scheduler-gpu", Scheduling.gpuSchedulerName, extender, profile);
    saveState(this.state);
  }

  async startScheduler(
    processName: string,
    schedulerName: string,
    extender?: ExtenderOptions,
    profile?: Record<string, unknown>,
  ): Promise<void> {
    const dir = this.state.stateDir;
    const config = join(dir, `${processName}.yaml`);
    writeFileSync(
      config,
      schedulerConfigYaml({ kubeconfig: join(dir, "kube-scheduler.kubeconfig"), schedulerName, extender, profile }),
    );
    this.state.ports[processName] = await freePort();
    await startOnFreshPorts({
      name: processName,
      state: this.state,
      log: this.log,
      start: () => {
        const proc = spawnLogged(
          processName,
          join(this.state.binDir, "kube-scheduler"),
          [
            `--config=${config}`,
            "--bind-address=127.0.0.1",
            `--secure-port=${this.state.ports[processName]}`,
            `--cert-dir=${join(dir, processName)}`,
          ],
          join(dir, "logs", `${processName}.log`),
        );
        this.state.processes.push(proc);
        saveState(this.state);
        return proc;
      },
      healthy: (proc) =>
        waitHealthy(proc, `https://127.0.0.1:${this.state.ports[processName]}/healthz`, { tls: { insecure: true } }),
      repick: async () => {
        this.state.ports[processName] = await freePort();
      },
    });
    this.log(`${processName} ready (profile ${schedulerName}${extender ? `, extender ${extender.urlPrefix}` : ""})`);
  }

  /** Applies KubeRay's CRDs (server-side: they are too big for client-side apply) and starts ray-operator. */
  async startKubeRay(): Promise<void> {
    const crdDir = join(this.state.binDir, "..", "crds", "ray");
    const names: string[] = [];
    for (const file of readdirSync(crdDir).filter((f) => f.endsWith(".yaml"))) {
      const crd = parse(readFileSync(join(crdDir, file), "utf8")) as { metadata: { name: string } };
      await this.api.apply(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, crd);
      names.push(crd.metadata.name);
    }
    for (const name of names) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const crd = await this.api.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
        );
        if (crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
        if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 30 s`);
        await sleep(100);
      }
    }
    const ports = this.state.ports;
    ports["ray-operator"] = await freePort();
    ports["ray-operator-metrics"] = await freePort();
    await startOnFreshPorts({
      name: "ray-operator",
      state: this.state,
      log: this.log,
      start: () => {
        const proc = spawnLogged(
          "ray-operator",
          join(this.state.binDir, "ray-operator"),
          [
            `--kubeconfig=${this.state.kubeconfig}`,
            `--metrics-addr=127.0.0.1:${ports["ray-operator-metrics"]}`,
            `--health-probe-bind-address=127.0.0.1:${ports["ray-operator"]}`,
            "--enable-leader-election=false",
          ],
          join(this.state.stateDir, "logs", "ray-operator.log"),
        );
        this.state.processes.push(proc);
        saveState(this.state);
        return proc;
      },
      healthy: (proc) => waitHealthy(proc, `http://127.0.0.1:${ports["ray-operator"]}/readyz`, { timeoutMs: 60_000 }),
      repick: async () => {
        ports["ray-operator"] = await freePort();
        ports["ray-operator-metrics"] = await freePort();
      },
    });
    this.log(`ray-operator ready (${names.length} CRDs)`);
  }

  /**
   * kwok v0.7 creates its pod address pool when it first gives a pod an address, without a lock: two pods started at
   * once on a new cluster can each create a pool and both get its first address, and then two engines want one
   * address. A pod bound to `nodeName` and deleted once it has an address creates the pool before any other pod.
   */
  private async warmPodAddresses(nodeName: string, timeoutMs = 60_000): Promise<void> {
    await waitDefaultServiceAccount(this, timeoutMs);
    const pod = await this.api.create<{ metadata: { name: string } }>("/api/v1/namespaces/default/pods", {
      metadata: { generateName: "pod-address-pool-" },
      spec: {
        nodeName,
        containers: [{ name: "pause", image: "registry.k8s.io/pause:3.10" }],
        tolerations: [{ operator: "Exists" }],
        automountServiceAccountToken: false,
      },
    });
    const path = `/api/v1/namespaces/default/pods/${pod.metadata.name}`;
    const deadline = Date.now() + timeoutMs;
    while (!(await this.api.get<{ status?: { podIP?: string } }>(path)).status?.podIP) {
      if (Date.now() > deadline)
        throw new Error(`kwok gave pod default/${pod.metadata.name} no address in ${timeoutMs} ms`);
      await sleep(100);
    }
    await this.api.delete(`${path}?gracePeriodSeconds=0`);
    this.podAddressesWarm = true;
  }

  /** Creates fake nodes (kwok makes them Ready) and waits until they are. */
  async addNodes(groups: NodeGroup[], timeoutMs?: number): Promise<string[]> {
    const nodes = nodeObjects(groups);
    const names = nodes.map((n) => (n.metadata as { name: string }).name);
    const queue = [...nodes];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let node = queue.shift(); node; node = queue.shift()) await this.api.create("/api/v1/nodes", node);
      }),
    );
    // kwok initialises nodes at a bounded rate: allow more time for big fleets.
    await this.waitNodesReady(names, timeoutMs ?? Math.max(60_000, names.length * 200));
    this.log(`${names.length} fake nodes ready`);
    if (!this.podAddressesWarm && names[0]) await this.warmPodAddresses(names[0]);
    return names;
  }

  async waitNodesReady(names: string[], timeoutMs = 60_000): Promise<void> {
    const want = new Set(names);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = await this.api.get<{
        items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
      }>(`/api/v1/nodes?labelSelector=type%3Dkwok`);
      const ready = list.items.filter(
        (n) =>
          want.has(n.metadata.name) && n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
      ).length;
      if (ready === want.size) return;
      if (Date.now() > deadline) throw new Error(`only ${ready}/${want.size} fake nodes Ready after ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /** Stops every process (reverse start order) and, unless `keepState`, deletes the state directory. */
  async stop(opts: { keepState?: boolean } = {}): Promise<void> {
    this.api.close();
    if (this.exitHook) process.removeListener("exit", this.exitHook);
    this.exitHook = undefined;
    await stopProcesses(this.state);
    if (!opts.keepState) rmSync(this.state.stateDir, { recursive: true, force: true });
  }
}

async function stopProcesses(state: ClusterState): Promise<void> {
  // Everything but etcd in parallel, then etcd last (the API server flushes to it while shutting down).
  const etcd = state.processes.filter((p) => p.name === "etcd");
  await Promise.all(state.processes.filter((p) => p.name !== "etcd").map((p) => stopProcess(p)));
  await Promise.all(etcd.map((p) => stopProcess(p)));
}

/** Files the control plane reads: the PKI, and kubeconfigs for the admin, the controller manager and the scheduler. */
interface ClusterFiles {
  caFile: string;
  caKeyFile: string;
  apiCert: string;
  apiKey: string;
  saPub: string;
  saKey: string;
  kubeconfig: string;
  kcmKubeconfig: string;
}

type ClusterPorts = ClusterState["ports"];

function writeClusterFiles(stateDir: string, pki: ClusterPki, server: string): ClusterFiles {
  const pkiFile = (name: string, text: string) => writeSecret(join(stateDir, "pki", name), text);
  const files: ClusterFiles = {
    caFile: pkiFile("ca.crt", pki.ca.certPem),
    caKeyFile: pkiFile("ca.key", pki.ca.keyPem),
    apiCert: pkiFile("apiserver.crt", pki.apiserver.certPem),
    apiKey: pkiFile("apiserver.key", pki.apiserver.keyPem),
    saPub: pkiFile("sa.pub", pki.serviceAccount.publicKeyPem),
    saKey: pkiFile("sa.key", pki.serviceAccount.privateKeyPem),
    kubeconfig: writeSecret(
      join(stateDir, "admin.kubeconfig"),
      kubeconfigYaml(server, pki.ca.certPem, "admin", pki.admin),
    ),
    // Components authenticate as the identities bootstrap RBAC already grants.
    kcmKubeconfig: writeSecret(
      join(stateDir, "kube-controller-manager.kubeconfig"),
      kubeconfigYaml(server, pki.ca.certPem, "kcm", pki.controllerManager),
    ),
  };
  writeSecret(
    join(stateDir, "kube-scheduler.kubeconfig"),
    kubeconfigYaml(server, pki.ca.certPem, "scheduler", pki.scheduler),
  );
  return files;
}

export function etcdArgs(stateDir: string, ports: ClusterPorts): string[] {
  return [
    "--name=loopback",
    `--data-dir=${join(stateDir, "etcd")}`,
    `--listen-client-urls=http://127.0.0.1:${ports.etcd}`,
    `--advertise-client-urls=http://127.0.0.1:${ports.etcd}`,
    `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-cluster=loopback=http://127.0.0.1:${ports.etcdPeer}`,
    "--unsafe-no-fsync=true",
    "--quota-backend-bytes=4294967296",
    "--log-level=warn",
  ];
}

export function apiserverArgs(stateDir: string, ports: ClusterPorts, files: ClusterFiles): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${ports.apiserver}`,
    `--tls-cert-file=${files.apiCert}`,
    `--tls-private-key-file=${files.apiKey}`,
    `--client-ca-file=${files.caFile}`,
    `--cert-dir=${join(stateDir, "apiserver-certs")}`,
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${files.saPub}`,
    `--service-account-signing-key-file=${files.saKey}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    "--authorization-mode=RBAC",
    "--allow-privileged=true",
    // Endpoints validation refuses a loopback address, so the `kubernetes` Service endpoint is not reconciled.
    "--endpoint-reconciler-type=none",
    "--enable-priority-and-fairness=false",
    "--profiling=false",
  ];
}

export function controllerManagerArgs(stateDir: string, ports: ClusterPorts, files: ClusterFiles): string[] {
  return [
    `--kubeconfig=${files.kcmKubeconfig}`,
    `--authentication-kubeconfig=${files.kcmKubeconfig}`,
    `--authorization-kubeconfig=${files.kcmKubeconfig}`,
    "--leader-elect=false",
    "--bind-address=127.0.0.1",
    `--secure-port=${ports.controllerManager}`,
    `--cert-dir=${join(stateDir, "kcm-certs")}`,
    "--controllers=*",
    // Each controller acts as its own service account, which the bootstrap controller roles are bound to.
    "--use-service-account-credentials=true",
    `--service-account-private-key-file=${files.saKey}`,
    `--root-ca-file=${files.caFile}`,
    `--cluster-signing-cert-file=${files.caFile}`,
    `--cluster-signing-key-file=${files.caKeyFile}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    "--kube-api-qps=300",
    "--kube-api-burst=600",
  ];
}

export function kwokArgs(ports: ClusterPorts, files: ClusterFiles, podCidr: string | undefined): string[] {
  return [
    `--kubeconfig=${files.kubeconfig}`,
    "--manage-all-nodes=false",
    `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=${KWOK_NODE_VALUE}`,
    `--cidr=${podCidr ?? "10.244.0.0/16"}`,
    "--node-ip=10.0.0.1",
    "--node-lease-duration-seconds=40",
    `--server-address=127.0.0.1:${ports.kwok}`,
  ];
}

/** How many times a component that exits at once while starting is started again on fresh ports. */
const START_ATTEMPTS = 3;

interface FreshPortsStart {
  name: string;
  state: ClusterState;
  /** Spawns the component (recorded in `state.processes`) with the ports now in `state.ports`. */
  start: () => RunningProcess;
  /** Resolves once the component answers healthy; rejects at once if it exits. */
  healthy: (proc: RunningProcess) => Promise<void>;
  /** Picks the component's ports again and clears whatever the failed start left behind. */
  repick: () => Promise<void>;
  log: (message: string) => void;
}

/**
 * Components bind ports picked earlier by `freePort`; on a busy machine another process, or an outgoing connection's
 * ephemeral port, can take one in between, and the component then exits at once. Such an early exit is retried on
 * fresh ports; a component that stays up but never turns healthy is not. The kube-apiserver is not started this way:
 * its address is already written into every kubeconfig.
 */
export async function startOnFreshPorts(component: FreshPortsStart): Promise<RunningProcess> {
  const { name, state, log } = component;
  for (let attempt = 1; ; attempt++) {
    const proc = component.start();
    try {
      await component.healthy(proc);
      return proc;
    } catch (err) {
      if (attempt >= START_ATTEMPTS || isRunning(proc)) throw err;
      log(`${name} exited while starting (attempt ${attempt} of ${START_ATTEMPTS}); retrying on fresh ports`);
      state.processes = state.processes.filter((p) => p !== proc);
      await component.repick();
    }
  }
}

/** etcd, retried on fresh ports (the API server's flags are built after this, from the ports that worked). */
export async function startEtcd(
  state: ClusterState,
  launch: (name: string, binary: string, args: string[]) => RunningProcess,
  log: (message: string) => void,
): Promise<RunningProcess> {
  const { stateDir, ports } = state;
  const etcd = await startOnFreshPorts({
    name: "etcd",
    state,
    log,
    start: () => launch("etcd", "etcd", etcdArgs(stateDir, ports)),
    healthy: (proc) =>
      waitHealthy(proc, `http://127.0.0.1:${ports.etcd}/health`, {
        ready: (status, body) => status === 200 && body.includes('"health":"true"'),
      }),
    repick: async () => {
      rmSync(join(stateDir, "etcd"), { recursive: true, force: true });
      mkdirSync(join(stateDir, "etcd"), { recursive: true });
      ports.etcd = await freePort();
      ports.etcdPeer = await freePort();
    },
  });
  log(`etcd ready on 127.0.0.1:${ports.etcd}`);
  return etcd;
}

/** Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, each waited for until healthy. */
async function bootControlPlane(
  cluster: LoopbackCluster,
  launch: (name: string, binary: string, args: string[]) => RunningProcess,
  files: ClusterFiles,
  options: ClusterOptions,
  log: (message: string) => void,
): Promise<void> {
  const { stateDir, ports, server } = cluster.state;
  const pki = cluster.pki;
  await startEtcd(cluster.state, launch, log);

  const apiserver = launch("kube-apiserver", "kube-apiserver", apiserverArgs(stateDir, ports, files));
  const adminTls = { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
  await waitHealthy(apiserver, `${server}/readyz`, { tls: adminTls, timeoutMs: 120_000 });
  log(`kube-apiserver ready on ${server}`);

  await Promise.all([
    startOnFreshPorts({
      name: "kube-controller-manager",
      state: cluster.state,
      log,
      start: () =>
        launch("kube-controller-manager", "kube-controller-manager", controllerManagerArgs(stateDir, ports, files)),
      healthy: (proc) =>
        waitHealthy(proc, `https://127.0.0.1:${ports.controllerManager}/healthz`, { tls: { insecure: true } }),
      repick: async () => {
        ports.controllerManager = await freePort();
      },
    }).then(() => log("kube-controller-manager ready")),
    cluster.startScheduler("kube-scheduler", "default-scheduler"),
    startOnFreshPorts({
      name: "kwok",
      state: cluster.state,
      log,
      start: () => launch("kwok", "kwok", kwokArgs(ports, files, options.podCidr)),
      healthy: (proc) => waitHealthy(proc, `http://127.0.0.1:${ports.kwok}/healthz`),
      repick: async () => {
        ports.kwok = await freePort();
      },
    }).then(() => log("kwok ready")),
  ]);
}

/**
 * Starts the whole control plane and returns once every component is healthy and the fake nodes are Ready. If the
 * state directory holds a previous cluster, its processes are stopped first.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<LoopbackCluster> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "aibrix-ts-cluster-"));
  const previous = readClusterState(stateDir);
  if (previous) {
    log(`stopping the previous cluster in ${stateDir}`);
    await stopProcesses(previous);
    rmSync(stateDir, { recursive: true, force: true });
  }
  for (const sub of ["", "logs", "pki", "etcd"]) mkdirSync(join(stateDir, sub), { recursive: true });
  const binDir = options.binDir ?? (await ensureBinaries({ onProgress: log }));

  const pki = await createClusterPki();
  const ports = {
    etcd: await freePort(),
    etcdPeer: await freePort(),
    apiserver: await freePort(),
    controllerManager: await freePort(),
    kwok: await freePort(),
  };
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const files = writeClusterFiles(stateDir, pki, server);
  const kubeconfig = files.kubeconfig;

  const state: ClusterState = {
    stateDir,
    binDir,
    server,
    kubeconfig,
    ports,
    processes: [],
    startedAt: new Date().toISOString(),
  };
  const cluster = new LoopbackCluster(state, pki, log);
  if (options.stopOnExit ?? true) cluster.stopOnExit();
  const launch = (name: string, binary: string, args: string[]) => {
    const proc = spawnLogged(name, join(binDir, binary), args, join(stateDir, "logs", `${name}.log`));
    state.processes.push(proc);
    saveState(state);
    return proc;
  };

  try {
    await bootControlPlane(cluster, launch, files, options, log);
    if (options.gpuScheduler) await cluster.startGpuScheduler(options.gpuScheduler, chartSchedulerProfile());
    if (options.kuberay) await cluster.startKubeRay();

    const groups =
      options.nodes === undefined
        ? loadNodeGroups(DEFAULT_NODE_GROUPS_FILE)
        : typeof options.nodes === "string"
          ? loadNodeGroups(options.nodes)
          : options.nodes;
    if (groups.length > 0) await cluster.addNodes(groups);
    await waitDefaultServiceAccount(cluster);
    log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s; KUBECONFIG=${kubeconfig}`);
    return cluster;
  } catch (err) {
    await stopProcesses(state);
    // A temp directory of our own goes too (the error already carries the failing log's tail); a directory the
    // caller named is kept for its logs.
    if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
}

/** Pods are refused until the service-account controller has created `default` in their namespace. */
async function waitDefaultServiceAccount(cluster: LoopbackCluster, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await cluster.api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status !== 200) {
    if (Date.now() > deadline) throw new Error(`serviceaccount default/default not created after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Stops the cluster recorded in `stateDir` (by PID) and removes the directory. False when none was recorded. */
export async function stopCluster(stateDir: string, opts: { keepState?: boolean } = {}): Promise<boolean> {
  const state = readClusterState(stateDir);
  if (!state) return false;
  await stopProcesses(state);
  if (!opts.keepState) rmSync(stateDir, { recursive: true, force: true });
  return true;
}

export interface ClusterStatus {
  stateDir: string;
  server: string;
  kubeconfig: string;
  apiserverReady: boolean;
  processes: { name: string; pid: number; command: string; running: boolean; logFile: string }[];
}

/** The recorded processes and whether each still runs, plus kube-apiserver's /readyz. Undefined when none recorded. */
export async function clusterStatus(stateDir: string): Promise<ClusterStatus | undefined> {
  const state = readClusterState(stateDir);
  if (!state) return undefined;
  const pki = (name: string) => readFileSync(join(stateDir, "pki", name), "utf8");
  let apiserverReady: boolean;
  try {
    const kc = readFileSync(state.kubeconfig, "utf8");
    const field = (key: string) => Buffer.from(new RegExp(`${key}: (\\S+)`).exec(kc)?.[1] ?? "", "base64").toString();
    const res = await probe(`${state.server}/readyz`, {
      ca: pki("ca.crt"),
      cert: field("client-certificate-data"),
      key: field("client-key-data"),
    });
    apiserverReady = res.status === 200;
  } catch {
    apiserverReady = false;
  }
  return {
    stateDir,
    server: state.server,
    kubeconfig: state.kubeconfig,
    apiserverReady,
    processes: state.processes.map((p) => ({
      name: p.name,
      pid: p.pid,
      command: p.command,
      running: isRunning(p),
      logFile: p.logFile,
    })),
  };
}
