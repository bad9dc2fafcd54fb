// The router's half of the workload signal (api/workload-signal.ts): every finished request is counted in its
// model's token-shape bucket, on the router's /metrics always and, with Redis, as upstream's per-interval trace keys.
// It wraps the flow control, whose ticket hears each request's end with the engine's usage.
import { Redis } from "ioredis";
import type { Metric, Registry } from "prom-client";
import {
  bucketKey,
  DEFAULT_SIGNAL_INTERVAL_SECONDS,
  encodeTrace,
  TRACE_TTL_SECONDS,
  traceKey,
  WORKLOAD_METRIC,
} from "../../api/workload-signal.js";
import { passAll, type FlowControl, type FlowDecision, type FlowRequest } from "../flow-control/control.js";
import { FAIL_FAST_REDIS } from "../redis-options.js";

// Adds one interval's counts into the key (creating it): router replicas, and a flush at shutdown, share a key when
// they write for the same interval, and none may overwrite another's counts.
const MERGE_TRACE = `
local add = cjson.decode(ARGV[1])
local cur = redis.call('GET', KEYS[1])
if cur then
  local merged = cjson.decode(cur)
  for k, v in pairs(add) do
    if string.sub(k, 1, 5) ~= 'meta_' or k == 'meta_total_reqs' or k == 'meta_pending_reqs' then
      merged[k] = (merged[k] or 0) + v
    else
      merged[k] = v
    end
  end
  add = merged
end
redis.call('SET', KEYS[1], cjson.encode(add), 'EX', tonumber(ARGV[2]))
return 1`;

export interface WorkloadSignalOptions {
  /** Also write upstream's trace keys to this Redis every interval. */
  redisUrl?: string;
  intervalSeconds?: number;
  onError?: (err: Error) => void;
}

export class WorkloadSignal {
  /** model → bucket → requests finished since start (the Prometheus counter). */
  private readonly totals = new Map<string, Map<string, number>>();
  /** model → bucket → requests finished in the current interval (for Redis). */
  private pending = new Map<string, Map<string, number>>();
  private readonly redis: Redis | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  readonly intervalSeconds: number;

  constructor(private readonly options: WorkloadSignalOptions = {}) {
    this.intervalSeconds = options.intervalSeconds ?? DEFAULT_SIGNAL_INTERVAL_SECONDS;
    if (options.redisUrl) {
      this.redis = new Redis(options.redisUrl, { ...FAIL_FAST_REDIS, lazyConnect: false });
      this.redis.on("error", () => {}); // reported per flush below
      this.timer = setInterval(() => void this.flush(), this.intervalSeconds * 1000);
      this.timer.unref();
    }
  }

  /** Counts one finished request. */
  record(model: string, inputTokens: number, outputTokens: number): void {
    const key = bucketKey(inputTokens, outputTokens);
    for (const map of [this.totals, this.pending]) {
      let byBucket = map.get(model);
      if (!byBucket) map.set(model, (byBucket = new Map()));
      byBucket.set(key, (byBucket.get(key) ?? 0) + 1);
    }
  }

  /** Writes the interval that just ended to Redis (one key per model with traffic). */
  async flush(nowSeconds = Date.now() / 1000): Promise<void> {
    const done = this.pending;
    this.pending = new Map();
    if (!this.redis || done.size === 0) return;
    const start = nowSeconds - this.intervalSeconds;
    try {
      const multi = this.redis.multi();
      for (const [model, byBucket] of done) {
        const text = encodeTrace(Object.fromEntries(byBucket), this.intervalSeconds);
        multi.eval(MERGE_TRACE, 1, traceKey(model, start, this.intervalSeconds), text, TRACE_TTL_SECONDS);
      }
      await multi.exec();
    } catch (err) {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Flow control that also counts each request that ends with 200. */
  wrap(inner: FlowControl | undefined): FlowControl {
    const control = inner ?? passAll;
    return {
      passesAll: control.passesAll === true,
      acquire: async (req: FlowRequest, signal: AbortSignal): Promise<FlowDecision> => {
        const decision = await control.acquire(req, signal);
        if (!decision.ok) return decision;
        const ticket = decision.ticket;
        let streamed = 0;
        return {
          ok: true,
          ticket: {
            ...ticket,
            onCompletionTokens: (n) => {
              streamed += n;
              ticket.onCompletionTokens(n);
            },
            finish: (outcome) => {
              ticket.finish(outcome);
              if (outcome.status !== 200) return;
              const usage = outcome.usage;
              this.record(req.model, usage?.prompt_tokens || req.promptTokens, usage?.completion_tokens ?? streamed);
            },
          },
        };
      },
      ...(control.attachFleet ? { attachFleet: (view) => control.attachFleet!(view) } : {}),
      close: () => control.close(),
    };
  }

  /** Serves the counter on `registry` (the router's /metrics). */
  publishOn(registry: Registry): void {
    const metric = {
      name: WORKLOAD_METRIC,
      get: () => ({
        name: WORKLOAD_METRIC,
        help: "Finished requests by model and token-shape bucket <round(log2 input)>-<round(log2 output)>",
        type: "counter",
        aggregator: "sum",
        values: [...this.totals].flatMap(([model, byBucket]) =>
          [...byBucket].map(([bucket, value]) => ({ labels: { model, bucket }, value })),
        ),
      }),
    };
    registry.registerMetric(metric as unknown as Metric);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    this.redis?.disconnect();
  }
}
