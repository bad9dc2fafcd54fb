// Child processes for router benchmarks: simulated engines, our router, and peer routers (sglang-router,
// vllm-router), each in its own process so the load generator never shares an event loop with what it measures.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { stopChild } from "../lib/child.js";
import { SIMULATOR_TOKENIZER_DIR } from "../../simulator/index.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Proc {
  name: string;
  child: ChildProcess;
  url: string;
  log: () => string;
  stop(): Promise<void>;
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc: compared before and after a run, it shows what
 * each router costs the machine that also runs the engines. NaN where /proc cannot say.
 */
export function cpuSeconds(p: Proc): number {
  try {
    const stat = readFileSync(`/proc/${p.child.pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields overall.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/**
 * `cpuSeconds` of a process and its child processes (a router running as a pool of worker processes): what the
 * whole router costs. NaN where /proc cannot say.
 */
export function treeCpuSeconds(p: Proc): number {
  const root = p.child.pid;
  if (root === undefined) return NaN;
  let total = 0;
  for (const pid of [root, ...childPids(root)]) total += cpuSecondsOf(pid);
  return total;
}

function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent) out.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}

function cpuSecondsOf(pid: number): number {
  return cpuSeconds({ child: { pid } } as Proc);
}

/** Threads a process runs now (0 when /proc cannot say). */
export function threadCount(p: Proc): number {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${p.child.pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * How a router process is launched besides its routing flags: pinned to `cpus` (a taskset list, e.g. "0,1") and
 * with `parallelism` processes (our --workers) or runtime threads (the peers' Tokio workers).
 */
export interface Launch {
  cpus: string;
  parallelism: number;
}

function launched(command: string, args: string[], launch: Launch | undefined): [string, string[]] {
  return launch ? ["taskset", ["-c", launch.cpus, command, ...args]] : [command, args];
}

/** USER_HZ: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/**
 * Scheduling priority for every process of a benchmark run (engines, routers, peers, and the load generator via
 * `prioritizeSelf`). The same value for all of them: contenders compete on equal terms among themselves, while
 * unrelated work on a shared machine interferes less. BENCH_NICE overrides (0 = leave as is).
 */
export const BENCH_NICE = Number(process.env.BENCH_NICE ?? -5);

function prioritize(pid: number | undefined): void {
  if (pid === undefined || BENCH_NICE === 0) return;
  try {
    os.setPriority(pid, BENCH_NICE);
  } catch {
    // Not permitted (not root): run at normal priority.
  }
}

export function prioritizeSelf(): void {
  prioritize(process.pid);
}

function track(name: string, child: ChildProcess, url: string): Proc {
  prioritize(child.pid);
  let out = "";
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-20000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return {
    name,
    child,
    url,
    log: () => out,
    stop: () => stopChild(child),
  };
}

/** Poll until `probe` answers 2xx (or the process exits / time runs out). */
export async function waitReady(p: Proc, probe: () => Promise<boolean>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}):\n${p.log().slice(-3000)}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${p.name} not ready after ${timeoutMs} ms:\n${p.log().slice(-3000)}`);
}

export interface EngineFleet {
  proc: Proc;
  endpoints: { model: string; address: string; gpuType?: string; kvEvents?: string }[];
  endpointFile: string;
}

/** `aibrix-ts simulator --replicas N` in one child process; returns the endpoint list it prints. */
export async function startEngines(o: {
  model: string;
  replicas: number;
  speedup: number;
  /** Engine calibration (default h100-8b). */
  calibration?: string;
  kvEvents?: boolean;
  extra?: string[];
}): Promise<EngineFleet> {
  const file = path.join(tmpdir(), `bench-engines-${process.pid}-${Date.now()}.yaml`);
  const args = [
    "--import",
    "tsx",
    "cli/main.ts",
    "simulator",
    "--model",
    o.model,
    "--calibration",
    o.calibration ?? "h100-8b",
    "--replicas",
    String(o.replicas),
    "--speedup",
    String(o.speedup),
    "--endpoint-file",
    file,
    // Engines that publish KV events tokenize with a real tokenizer, which the router is given too (startOurRouter).
    ...(o.kvEvents ? ["--kv-events-port", "0", "--tokenizer", SIMULATOR_TOKENIZER_DIR] : []),
    ...(o.extra ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  const proc = track("simulator", child, "");
  const { readFile } = await import("node:fs/promises");
  let endpoints: EngineFleet["endpoints"] = [];
  await waitReady(proc, async () => {
    const text = await readFile(file, "utf8");
    endpoints = parseYaml(text) as EngineFleet["endpoints"];
    return Array.isArray(endpoints) && endpoints.length === o.replicas;
  });
  return { proc, endpoints, endpointFile: file };
}

const completionProbe = (url: string, model: string) => async () => {
  const r = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, prompt: "ready?", max_tokens: 1 }),
    signal: AbortSignal.timeout(2000),
  });
  await r.text();
  return r.ok;
};

/**
 * Canned-answer engines (bench/router-overhead/canned-engine.ts), one process each. With `kvEventsTokenizer` each
 * publishes KV events (vLLM's wire format) keyed with that tokenizer, and the endpoint list names its publisher.
 */
export async function startCannedEngines(
  model: string,
  count: number,
  kvEventsTokenizer?: string,
): Promise<{ procs: Proc[]; fleet: EngineFleet }> {
  const procs: Proc[] = [];
  const endpoints: EngineFleet["endpoints"] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "bench/router-overhead/canned-engine.ts",
        String(port),
        model,
        ...(kvEventsTokenizer ? [kvEventsTokenizer] : []),
      ],
      { cwd: repo, stdio: ["ignore", "pipe", "pipe"] },
    );
    const p = track(`canned engine ${i}`, child, `http://127.0.0.1:${port}`);
    await waitReady(p, completionProbe(p.url, model));
    procs.push(p);
    // The line naming the publisher can reach us after the engine answers its first request.
    await waitReady(p, async () => p.log().includes(" on http://"), 10_000);
    const kvEvents = / kv-events (\S+)/.exec(p.log())?.[1];
    if (kvEventsTokenizer && !kvEvents)
      throw new Error(`${p.name} did not say where it publishes KV events:\n${p.log()}`);
    endpoints.push({ model, address: p.url.replace("http://", ""), ...(kvEvents ? { kvEvents } : {}) });
  }
  const endpointFile = path.join(tmpdir(), `bench-canned-${process.pid}-${Date.now()}.yaml`);
  await writeFile(endpointFile, JSON.stringify(endpoints));
  return { procs, fleet: { proc: procs[0]!, endpoints, endpointFile } };
}

/**
 * How our router is started: by default the build users run (`tsc -p tsconfig.build.json`, the `aibrix-ts` bin's
 * JavaScript), compiled once per benchmark process into tmp/ (git-ignored); BENCH_ROUTER_FROM=source runs the
 * TypeScript sources through tsx instead (its loader adds per-call work users do not have).
 */
let routerBuild: Promise<string[]> | undefined;
export function routerEntry(): Promise<string[]> {
  if (process.env.BENCH_ROUTER_FROM === "source") return Promise.resolve(["--import", "tsx", "cli/main.ts"]);
  routerBuild ??= (async () => {
    const out = path.join(repo, "tmp", "bench-router-dist");
    const tsc = path.join(repo, "node_modules", "typescript", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", out], {
      cwd: repo,
      encoding: "utf8",
    });
    const main = path.join(out, "cli", "main.js");
    // tsc emits even when some file has a type error; only a missing entry point is fatal here.
    if (!existsSync(main))
      throw new Error(`building the router failed (tsc exit ${r.status}):\n${r.stdout}${r.stderr}`);
    await mkdir(path.join(out, "simulator"), { recursive: true });
    await copyFile(path.join(repo, "simulator", "calibrations.json"), path.join(out, "simulator", "calibrations.json"));
    return [main];
  })();
  return routerBuild;
}

export async function startOurRouter(
  fleet: EngineFleet,
  model: string,
  strategy: string,
  extra: Record<string, unknown> = {},
  launch?: Launch,
): Promise<Proc> {
  const port = await freePort();
  const cfg = path.join(tmpdir(), `bench-router-${process.pid}-${port}.yaml`);
  const tokenizers = { [model]: SIMULATOR_TOKENIZER_DIR };
  await writeFile(cfg, JSON.stringify({ defaultStrategy: strategy, tokenizers, ...extra }));
  const workers = launch ? ["--workers", String(launch.parallelism)] : [];
  const [command, args] = launched(
    process.execPath,
    [
      ...(process.env.BENCH_ROUTER_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
      ...(await routerEntry()),
      "router",
      "--endpoints",
      fleet.endpointFile,
      "--config",
      cfg,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--log-level",
      "warn",
      ...workers,
    ],
    launch,
  );
  const child = spawn(command, args, { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  // Arms of one strategy that differ in their config are recorded apart.
  const configured = Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : "";
  const placed = launch ? `, ${launch.parallelism} workers on cpus ${launch.cpus}` : "";
  const name = `aibrix-ts (${strategy}${configured}${placed})`;
  setups[name] = {
    version: ourVersion(),
    args: [`--config ${JSON.stringify({ defaultStrategy: strategy, ...extra })}`, ...workers],
    ...(launch ? { launch: `taskset -c ${launch.cpus}` } : {}),
  };
  const p = track(`aibrix-ts router (${strategy})`, child, `http://127.0.0.1:${port}`);
  await waitReady(p, completionProbe(p.url, model));
  return p;
}

/** package.json's version and the commit the working tree is at (with "+changes" when its code differs from it). */
function ourVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(repo, "package.json"), "utf8")) as { version: string };
  const head = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repo, encoding: "utf8" });
  // Results written by earlier benchmarks in the same tree are not changes to what runs.
  const dirty = spawnSync(
    "git",
    ["status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results"],
    {
      cwd: repo,
      encoding: "utf8",
    },
  );
  const commit = head.status === 0 ? head.stdout.trim() : "unknown commit";
  return `${pkg.version} (${commit}${dirty.stdout.trim() ? "+changes" : ""})`;
}

export type PeerName = "sglang-router" | "vllm-router";

/** How a router in a result ran: its version and the flags or options that shape routing (thresholds included). */
export interface RouterSetup {
  version: string;
  args: string[];
  /** Defaults the router reports for thresholds it was not given, from its own --help. */
  defaults?: Record<string, string>;
  /** The pinning it ran under, when pinned (`taskset -c …`), and its runtime's threads, when set. */
  launch?: string;
}

const setups: Record<string, RouterSetup> = {};

/** Every router started so far in this process and how: a result records it as `params.routers`. */
export function routerSetups(): Record<string, RouterSetup> {
  return structuredClone(setups);
}

interface PeerInstall {
  version: string;
  command: string[];
  help: string;
}

let peerInstalls: Map<PeerName, PeerInstall> | string | undefined;

/**
 * The peer routers at the versions scripts/peer-routers.sh pins, installed on first use (its progress goes to
 * stderr); a string saying why when they cannot be.
 */
function pinnedPeers(): Map<PeerName, PeerInstall> | string {
  if (peerInstalls !== undefined) return peerInstalls;
  const r = spawnSync(path.join(repo, "scripts", "peer-routers.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) {
    peerInstalls = `scripts/peer-routers.sh exited ${r.status ?? r.signal}: run it by hand to see why`;
    return peerInstalls;
  }
  const found = new Map<PeerName, PeerInstall>();
  for (const line of r.stdout.trim().split("\n")) {
    const [name, version, command] = line.split("\t");
    if (name !== "sglang-router" && name !== "vllm-router") continue;
    const argv = command!.split(" ");
    const help = spawnSync(argv[0]!, [...argv.slice(1), "--help"], { encoding: "utf8" });
    found.set(name, { version: version!, command: argv, help: help.status === 0 ? help.stdout : "" });
  }
  peerInstalls = found;
  return found;
}

/** Why a peer cannot run here, or undefined when it can. */
export function peerUnavailable(peer: PeerName): string | undefined {
  const peers = pinnedPeers();
  if (typeof peers === "string") return `${peer}: ${peers}`;
  const install = peers.get(peer);
  if (!install) return `${peer}: scripts/peer-routers.sh does not install it`;
  if (!install.help) return `${peer} ${install.version}: --help failed; reinstall with scripts/peer-routers.sh`;
  return undefined;
}

/** The defaults a peer's --help states for the thresholds that decide between cache affinity and balance. */
export function thresholdDefaults(help: string, given: readonly string[]): Record<string, string> {
  const text = help.replace(/\s+/g, " ");
  const out: Record<string, string> = {};
  for (const flag of ["--cache-threshold", "--balance-abs-threshold", "--balance-rel-threshold"]) {
    if (given.includes(flag)) continue;
    const m = new RegExp(`${flag} [A-Z_]+ [^]*?\\(default: ([^)]+)\\)`).exec(text);
    if (m) out[flag] = m[1]!.trim();
  }
  return out;
}

export async function startPeer(
  peer: PeerName,
  fleet: EngineFleet,
  model: string,
  policy: string,
  flags: string[] = [],
  launch?: Launch,
): Promise<Proc> {
  const peers = pinnedPeers();
  const install = typeof peers === "string" ? undefined : peers.get(peer);
  if (!install) throw new Error(peerUnavailable(peer) ?? `${peer} is not installed`);
  const port = await freePort();
  const metricsPort = await freePort();
  const workers = fleet.endpoints.map((e) => `http://${e.address}`);
  const shaping = ["--policy", policy, ...flags];
  const common = [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--worker-urls",
    ...workers,
    ...shaping,
    "--prometheus-port",
    String(metricsPort),
    "--log-level",
    "error",
  ];
  const pinned = launch ? `, ${launch.parallelism} threads on cpus ${launch.cpus}` : "";
  setups[`${peer} (${policy}${pinned})`] = {
    version: install.version,
    args: shaping,
    defaults: thresholdDefaults(install.help, shaping),
    ...(launch ? { launch: `taskset -c ${launch.cpus}, TOKIO_WORKER_THREADS=${launch.parallelism}` } : {}),
  };
  const [command, args] = launched(install.command[0]!, [...install.command.slice(1), ...common], launch);
  // Both peers run on Tokio: its multi-thread runtime takes its worker count from TOKIO_WORKER_THREADS, else from
  // the CPUs the process may use (which taskset sets too).
  const env = launch ? { ...process.env, TOKIO_WORKER_THREADS: String(launch.parallelism) } : process.env;
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env });
  const p = track(`${peer} (${policy})`, child, `http://127.0.0.1:${port}`);
  await waitReady(p, completionProbe(p.url, model), 90000);
  return p;
}
