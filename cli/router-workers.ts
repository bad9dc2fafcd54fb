// `aibrix-ts router --workers N`: N router processes sharing one listen port (node:cluster; the primary accepts and
// hands connections out round-robin), so one router uses several cores. The primary serves nothing itself: it starts
// the workers, restarts one that dies (saying so), answers their requests for the fleet-wide /metrics (every worker's
// registry summed, prom-client's cluster aggregation), and on SIGTERM/SIGINT stops them all gracefully.
import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type PrometheusContentType, type Registry } from "prom-client";

const METRICS_REQUEST = "aibrix-ts:router-metrics";
const METRICS_ANSWER = "aibrix-ts:router-metrics-answer";
const WORKER_SERVING = "aibrix-ts:router-worker-serving";
/** A worker still running this long after SIGTERM is killed. */
const STOP_GRACE_MS = 30_000;

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: number;
}

interface MetricsAnswer {
  type: typeof METRICS_ANSWER;
  id: number;
  text?: string;
  error?: string;
}

/** `--workers`: a whole number from 1, or `auto` (one per CPU the process may use). */
export function workersFlag(value: string, cpus: number): number {
  if (value === "auto") return cpus;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--workers ${JSON.stringify(value)} must be a whole number from 1, or "auto" (one per CPU)`);
  }
  return n;
}

/** What differs between one router process and several, for the warning printed at start (undefined: nothing). */
export function perWorkerStateWarning(workers: number, redisUrl: string | undefined, flowControl: boolean) {
  if (workers <= 1 || redisUrl) return undefined;
  const limits = flowControl
    ? "flow-control limits, fairness counters and users are kept in each worker's memory, so every limit is " +
      `enforced per worker (up to ${workers}× in total); `
    : "";
  return (
    `warning: --workers ${workers} without --redis-url: ${limits}the prefix-cache index and in-flight counts ` +
    "are per worker too, so workers route on what each alone has seen. Pass --redis-url to share them."
  );
}

export interface WorkerPoolOptions {
  workers: number;
  log: (line: string) => void;
}

export interface WorkerPool {
  /** Resolves once every worker serves; rejects when one fails before it does. */
  ready: Promise<void>;
  /** Stops every worker (SIGTERM, then SIGKILL after the grace period) and resolves when all have exited. */
  stop(): Promise<void>;
}

/** Runs in the primary: starts the workers (this same command line, re-run by node:cluster) and looks after them. */
export function startWorkerPool(o: WorkerPoolOptions): WorkerPool {
  const aggregator = new AggregatorRegistry<PrometheusContentType>();
  let stopping = false;
  let listening = 0;
  let markReady: () => void = () => {};
  let markFailed: (err: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  const slots = new Map<number, number>();
  const fork = (slot: number): void => {
    const worker = cluster.fork({ AIBRIX_ROUTER_WORKER: String(slot) });
    slots.set(worker.id, slot);
    let served = false;
    worker.on("message", (m: unknown) => {
      if ((m as { type?: unknown } | null)?.type === WORKER_SERVING && !served) {
        served = true;
        if (++listening === o.workers) markReady();
      } else answerMetrics(aggregator, worker, m);
    });
    // A signal that cannot be delivered (the worker exiting meanwhile) is reported here, not thrown.
    worker.on("error", (err) => o.log(`aibrix-ts router: worker ${slot}: ${err.message}`));
    worker.on("exit", (code, signal) => {
      slots.delete(worker.id);
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `code ${code}`;
      // A worker that never listened failed at start (bad flags, unreadable files): restarting would only repeat it.
      if (!served) {
        markFailed(new Error(`router worker ${slot} (pid ${worker.process.pid}) exited with ${how} before listening`));
        return;
      }
      listening--;
      o.log(`aibrix-ts router: worker ${slot} (pid ${worker.process.pid}) exited with ${how}; starting a new one`);
      fork(slot);
    });
  };
  for (let slot = 1; slot <= o.workers; slot++) fork(slot);
  return {
    ready,
    async stop() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(workers.map(stopWorker));
    },
  };
}

function stopWorker(worker: Worker): Promise<void> {
  if (worker.isDead()) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => worker.process.kill("SIGKILL"), STOP_GRACE_MS);
    worker.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    worker.process.kill("SIGTERM");
  });
}

function answerMetrics(aggregator: AggregatorRegistry<PrometheusContentType>, worker: Worker, m: unknown): void {
  const request = m as Partial<MetricsRequest> | null;
  if (request?.type !== METRICS_REQUEST || typeof request.id !== "number") return;
  const id = request.id;
  const reply = (answer: Omit<MetricsAnswer, "type" | "id">) => {
    if (worker.isConnected()) worker.send({ type: METRICS_ANSWER, id, ...answer } satisfies MetricsAnswer);
  };
  aggregator.clusterMetrics().then(
    (text) => reply({ text }),
    (err: Error) => reply({ error: err.message }),
  );
}

/**
 * Runs in a worker: offers `registry` to the primary's aggregation and returns what the worker's /metrics serves —
 * the sum over all workers, fetched from the primary.
 */
export function clusterMetricsText(registry: Registry): () => Promise<string> {
  // Constructing one installs prom-client's worker-side listener; setRegistries names what it reports.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  let nextId = 0;
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  process.on("message", (m: unknown) => {
    const answer = m as Partial<MetricsAnswer> | null;
    if (answer?.type !== METRICS_ANSWER || typeof answer.id !== "number") return;
    const waiting = pending.get(answer.id);
    pending.delete(answer.id);
    if (answer.error !== undefined) waiting?.reject(new Error(`metrics of all workers: ${answer.error}`));
    else waiting?.resolve(answer.text ?? "");
  });
  return () =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      process.send!({ type: METRICS_REQUEST, id } satisfies MetricsRequest);
    });
}

/** Tells the primary this worker's router serves (its port listens, its discovery started). */
export function reportWorkerServing(): void {
  process.send?.({ type: WORKER_SERVING });
}

/** Which worker this process is (1…N), or undefined outside a worker pool. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const n = Number(process.env.AIBRIX_ROUTER_WORKER);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
