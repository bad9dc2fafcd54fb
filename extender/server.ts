// The extender's HTTP(S) server: `<prefix>/filter`, `<prefix>/prioritize`, `<prefix>/bind`, plus `/healthz` and
// `/metrics`. Parsing and encoding live here; decisions live in policy.ts and bind.ts.
import type http from "node:http";
import { readFileSync } from "node:fs";
import { pino, type Logger } from "pino";
import { Scheduling } from "../api/labels.js";
import { loadKubeConfig } from "../kube/client.js";
import { KubeClient } from "../kube/request.js";
import { parseProfiles, PROFILES_CONFIGMAP_KEYS, ProfileSet } from "../api/gpu-profile.js";
import { parseRecommendations, RECOMMENDATIONS_CONFIGMAP_KEY, RecommendationSet } from "../api/gpu-recommendation.js";
import { bindPod, type PodBinder } from "./bind.js";
import { KubePodBinder, NoClusterBinder, startInformers, type InformerHandle } from "./kube.js";
import { ExtenderMetrics, type Outcome, type Verb } from "./metrics.js";
import { podFacts } from "./pod.js";
import {
  DEFAULT_WEIGHTS,
  filterNamesJson,
  filterNodes,
  preemptCandidates,
  prioritizeJson,
  type PlacementRequest,
  type PolicyContext,
  type PolicyOptions,
} from "./policy.js";
import { configMapSource, fileSource, staticSource, type Reloadable, type ReloadHooks } from "./sources.js";
import { ClusterState } from "./state.js";
import type { KnownNameList } from "./args-scan.js";
import { readExtenderArgs } from "./read-args.js";
import { readBody } from "../serving/body.js";
import { HttpError } from "../serving/errors.js";
import { createServer, listen, shutdown } from "../serving/http-server.js";
import {
  checkBindingArgs,
  checkPreemptionArgs,
  filterError,
  parseJson,
  type ExtenderBindingResult,
  type ExtenderPreemptionResult,
  type PodObject,
} from "./wire.js";

export interface ObjectRef {
  namespace: string;
  name: string;
}

export interface ExtenderOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 (default) picks a free one. */
  port?: number;
  /** Verbs are served under this path: `<prefix>/filter` etc. Default `/scheduler`. */
  prefix?: string;
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { certFile: string; keyFile: string } | { cert: string; key: string };
  /**
   * Cluster connection: a kubeconfig path, or `false` for none (state fed by the caller, bind unavailable unless a
   * binder is given). Default: the shared kubeconfig rule (`$KUBECONFIG`, in-cluster, ~/.kube/config).
   */
  kubeconfig?: string | false;
  /** Cluster state to use instead of informers (tests, benchmarks). Implies no informers. */
  state?: ClusterState;
  /** Binding writer to use instead of the API server's. */
  binder?: PodBinder;
  profiles?: ProfileSet;
  profilesFile?: string;
  profilesConfigMap?: ObjectRef;
  recommendations?: RecommendationSet;
  recommendationsFile?: string;
  recommendationsConfigMap?: ObjectRef;
  /** File polling interval for hot reload, ms (default 1000). */
  reloadIntervalMs?: number;
  policy?: Partial<PolicyOptions>;
  logger?: Logger;
  logLevel?: string;
  /** Called after each verb with its processing time, body received to answer written (benchmarks, tracing). */
  onDecision?: (verb: Verb, seconds: number) => void;
  /** Time source for diagnostics staleness (tests pin it). */
  clock?: () => number;
}

export interface ExtenderHandle {
  url: string;
  port: number;
  /** Base URL of the verbs, e.g. `http://127.0.0.1:4000/scheduler` (the scheduler config's urlPrefix). */
  urlPrefix: string;
  state: ClusterState;
  metrics: ExtenderMetrics;
  /** Resolves once informers (if any) have listed nodes and pods and ConfigMap sources have been read. */
  synced: Promise<void>;
  close(): Promise<void>;
}

/**
 * Largest request body: 50,000 node names of the longest legal length (253) with their quoting, plus a pod at the
 * API server's object size limit. Full Node lists (extenders without `nodeCacheCapable`) that large are refused:
 * configure `nodeCacheCapable: true`, as the chart does.
 */
export const MAX_BODY_BYTES = 50_000 * 256 + 3 * 1024 * 1024;

export function resolvePolicy(p: Partial<PolicyOptions> = {}): PolicyOptions {
  return {
    gpuResource: p.gpuResource ?? Scheduling.gpuResource,
    gpuTypeLabel: p.gpuTypeLabel,
    staleAfterMs: p.staleAfterMs ?? 5 * 60_000,
    requireDiagnostics: p.requireDiagnostics ?? false,
    requireProfile: p.requireProfile ?? false,
    weights: { ...DEFAULT_WEIGHTS, ...(p.weights ?? {}) },
  };
}

function send(
  res: http.ServerResponse,
  status: number,
  text: string,
  type = "application/json",
  headers: Record<string, string> = {},
): void {
  // Encoded once: answers at fleet scale are hundreds of kB, and byteLength would walk them a second time.
  const body = Buffer.from(text, "utf8");
  res.writeHead(status, { ...headers, "content-type": type, "content-length": body.length });
  res.end(body);
}

export async function startExtender(options: ExtenderOptions = {}): Promise<ExtenderHandle> {
  const log = options.logger ?? pino({ name: "aibrix-extender", level: options.logLevel ?? "info" });
  const metrics = new ExtenderMetrics();
  const policy = resolvePolicy(options.policy);
  const state =
    options.state ?? new ClusterState({ gpuResource: policy.gpuResource, gpuTypeLabel: policy.gpuTypeLabel });
  const clock = options.clock ?? Date.now;
  const prefix = (options.prefix ?? "/scheduler").replace(/\/+$/, "");

  const client =
    options.state || options.kubeconfig === false ? undefined : new KubeClient(loadKubeConfig(options.kubeconfig));
  const hooks = (what: string): ReloadHooks => ({
    onReload: (source) => {
      metrics.reloads.labels(what, "ok").inc();
      log.info({ source }, `${what} reloaded`);
    },
    onError: (source, err) => {
      metrics.reloads.labels(what, "error").inc();
      log.error({ source, err: err.message }, `${what} not reloaded; keeping the previous version`);
    },
  });
  const closers: (() => Promise<void>)[] = [];

  async function source<T>(
    what: string,
    value: T | undefined,
    file: string | undefined,
    cm: ObjectRef | undefined,
    keys: readonly string[],
    parse: (text: string, src: string) => T,
    empty: T,
  ): Promise<Reloadable<T>> {
    if (value !== undefined) return staticSource(value);
    if (file) return fileSource(file, parse, hooks(what), options.reloadIntervalMs);
    if (cm) {
      if (!client) throw new Error(`${what}: a ConfigMap source needs a cluster connection (kubeconfig)`);
      return configMapSource(client, cm, keys, parse, empty, hooks(what));
    }
    return staticSource(empty);
  }

  const profiles = await source(
    "profiles",
    options.profiles,
    options.profilesFile,
    options.profilesConfigMap,
    PROFILES_CONFIGMAP_KEYS,
    parseProfiles,
    ProfileSet.empty(),
  );
  closers.push(profiles.close);
  let recommendations: Reloadable<RecommendationSet>;
  try {
    recommendations = await source(
      "recommendations",
      options.recommendations,
      options.recommendationsFile,
      options.recommendationsConfigMap,
      [RECOMMENDATIONS_CONFIGMAP_KEY],
      parseRecommendations,
      RecommendationSet.empty(),
    );
  } catch (err) {
    await profiles.close();
    throw err;
  }
  closers.push(recommendations.close);

  let informers: InformerHandle | undefined;
  if (client) {
    informers = startInformers(client, state, log);
    closers.push(informers.stop);
  }
  const binder = options.binder ?? (client ? new KubePodBinder(client) : new NoClusterBinder());

  const context = (): PolicyContext => ({
    state,
    profiles: profiles.current(),
    recommendations: recommendations.current(),
    options: policy,
    now: clock(),
  });

  /** The placement request for a model GPU pod, undefined for pods we pass through, or an error text. */
  function placementOf(pod: PodObject): PlacementRequest | undefined | string {
    let facts;
    try {
      facts = podFacts(pod, policy.gpuResource);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    if (!facts.model || facts.gpus === 0) return undefined;
    return { model: facts.model, gpus: facts.gpus, deploymentKey: facts.deploymentKey };
  }

  function podName(pod: PodObject): string {
    return `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
  }

  /**
   * The last names-only filter's candidates, and the ones it let through: kube-scheduler sends the next filter nearly
   * the same candidates and prioritize exactly the survivors, which then need few or no name lookups.
   */
  let lastCandidates: KnownNameList | undefined;
  let lastPassed: KnownNameList | undefined;

  function handleFilter(body: Buffer): { text: string; outcome: Outcome } {
    const args = readExtenderArgs(body, state, lastCandidates);
    if (!args.ok) return { text: JSON.stringify(filterError(args.error)), outcome: "error" };
    const req = placementOf(args.value.Pod);
    if (typeof req === "string") return { text: JSON.stringify(filterError(req)), outcome: "error" };
    const { names, records, Nodes } = args.value;
    if (!req) {
      return {
        text: JSON.stringify({
          Nodes: names ? null : Nodes,
          NodeNames: names,
          FailedNodes: {},
          FailedAndUnresolvableNodes: {},
          Error: "",
        }),
        outcome: "passthrough",
      };
    }
    const ctx = context();
    let text: string;
    let passed: number;
    let reasons;
    if (names && records) {
      const answer = filterNamesJson(ctx, req, names, records);
      ({ json: text, passed, reasons } = answer);
      const list = args.value.list;
      if (list) lastCandidates = list;
      lastPassed = list?.subset(answer.passedAt, Buffer.from(answer.passedList, "utf8"));
    } else {
      const out = filterNodes(ctx, req, Nodes!.items);
      text = JSON.stringify(out.result);
      passed = out.result.Nodes!.items.length;
      reasons = out.reasons;
    }
    metrics.filteredOut(reasons);
    if (log.isLevelEnabled("debug")) {
      log.debug(
        { verb: "filter", pod: podName(args.value.Pod), passed, reasons: Object.fromEntries(reasons) },
        "filtered",
      );
    }
    return { text, outcome: "managed" };
  }

  function handlePrioritize(body: Buffer): { text: string; outcome: Outcome } {
    const args = readExtenderArgs(body, state, lastPassed);
    // HostPriorityList has no Error field; kube-scheduler ignores prioritize failures, so answer "no opinion".
    if (!args.ok) {
      log.warn({ verb: "prioritize", error: args.error }, "malformed prioritize request");
      return { text: "[]", outcome: "error" };
    }
    const req = placementOf(args.value.Pod);
    if (typeof req === "string") {
      log.warn({ verb: "prioritize", error: req }, "malformed pod in prioritize request");
      return { text: "[]", outcome: "error" };
    }
    if (!req) return { text: "[]", outcome: "passthrough" };
    const { names, records, Nodes } = args.value;
    // Unknown names still get an entry (score 0) so every candidate is answered.
    if (names && records) return { text: prioritizeJson(context(), req, names, records), outcome: "managed" };
    const items = Nodes!.items;
    return {
      text: prioritizeJson(
        context(),
        req,
        items.map((n) => n.metadata?.name ?? ""),
        items.map((n) => state.recordFor(n)),
      ),
      outcome: "managed",
    };
  }

  function handlePreempt(body: Buffer): { text: string; outcome: Outcome } {
    const parsed = parseJson(body.toString("utf8"));
    const args = parsed.ok ? checkPreemptionArgs(parsed.value) : parsed;
    // ExtenderPreemptionResult has no Error field: an empty map means "preempting helps nowhere", the safe answer.
    const none = JSON.stringify({ NodeNameToMetaVictims: {} } satisfies ExtenderPreemptionResult);
    if (!args.ok) {
      log.warn({ verb: "preempt", error: args.error }, "malformed preempt request");
      return { text: none, outcome: "error" };
    }
    const { Pod, candidates } = args.value;
    const req = placementOf(Pod);
    if (typeof req === "string") {
      log.warn({ verb: "preempt", error: req }, "malformed pod in preempt request");
      return { text: none, outcome: "error" };
    }
    if (!req) {
      const result: ExtenderPreemptionResult = { NodeNameToMetaVictims: Object.fromEntries(candidates) };
      return { text: JSON.stringify(result), outcome: "passthrough" };
    }
    const kept = preemptCandidates(context(), req, candidates);
    return {
      text: JSON.stringify({ NodeNameToMetaVictims: kept } satisfies ExtenderPreemptionResult),
      outcome: "managed",
    };
  }

  async function handleBind(body: Buffer): Promise<{ text: string; outcome: Outcome }> {
    const parsed = parseJson(body.toString("utf8"));
    const args = parsed.ok ? checkBindingArgs(parsed.value) : parsed;
    if (!args.ok)
      return { text: JSON.stringify({ Error: args.error } satisfies ExtenderBindingResult), outcome: "error" };
    const a = args.value;
    const out = await bindPod(state, binder, a, policy.gpuResource);
    if (out.error) {
      log.warn({ verb: "bind", pod: `${a.PodNamespace}/${a.PodName}`, node: a.Node, error: out.error }, "bind failed");
      return { text: JSON.stringify({ Error: out.error } satisfies ExtenderBindingResult), outcome: "error" };
    }
    log.info({ verb: "bind", pod: `${a.PodNamespace}/${a.PodName}`, node: a.Node, devices: out.devices }, "bound");
    return { text: JSON.stringify({ Error: "" } satisfies ExtenderBindingResult), outcome: "bound" };
  }

  const verbs: Record<string, Verb> = {
    [`${prefix}/filter`]: "filter",
    [`${prefix}/prioritize`]: "prioritize",
    [`${prefix}/bind`]: "bind",
    [`${prefix}/preempt`]: "preempt",
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = (req.url ?? "/").split("?")[0]!;
    const verb = verbs[path];
    if (verb) {
      if (req.method !== "POST") return send(res, 405, JSON.stringify({ Error: `${path} takes POST` }));
      readBody(req, MAX_BODY_BYTES)
        .then(async (body) => {
          const started = process.hrtime.bigint();
          const r =
            verb === "filter"
              ? handleFilter(body)
              : verb === "prioritize"
                ? handlePrioritize(body)
                : verb === "preempt"
                  ? handlePreempt(body)
                  : await handleBind(body);
          send(res, 200, r.text);
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          metrics.decision(verb, r.outcome, seconds);
          options.onDecision?.(verb, seconds);
        })
        .catch((err: unknown) => {
          const msg = err instanceof Error ? err.message : String(err);
          if (err instanceof HttpError) log.warn({ verb, err: msg }, "request refused");
          else log.error({ verb, err: msg }, "request failed");
          if (res.headersSent) return;
          // Still a 200 in each verb's own shape, as the protocol expects for bad input.
          const answer = {
            filter: () => JSON.stringify(filterError(msg)),
            prioritize: () => "[]",
            bind: () => JSON.stringify({ Error: msg }),
            preempt: () => JSON.stringify({ NodeNameToMetaVictims: {} }),
          }[verb];
          send(res, 200, answer(), "application/json", err instanceof HttpError ? err.headers : {});
        });
      return;
    }
    if (path === "/healthz" || path === `${prefix}/healthz`) {
      return send(res, 200, JSON.stringify({ ok: true, nodes: state.nodeCount }));
    }
    if (path === "/metrics") {
      metrics.registry
        .metrics()
        .then((text) => send(res, 200, text, metrics.registry.contentType))
        .catch((err: unknown) => send(res, 500, String(err), "text/plain"));
      return;
    }
    send(res, 404, JSON.stringify({ Error: `no route ${req.method} ${path}; verbs are under ${prefix}/` }));
  };

  const t = options.tls;
  const tls = t && {
    cert: "cert" in t ? t.cert : readFileSync(t.certFile, "utf8"),
    key: "key" in t ? t.key : readFileSync(t.keyFile, "utf8"),
  };
  const scheme = tls ? "https" : "http";
  const { server } = createServer(handler, { tls, log });
  const host = options.host ?? "127.0.0.1";
  let port: number;
  try {
    port = await listen(server, options.port ?? 0, host);
  } catch (err) {
    for (const c of closers) await c();
    throw err;
  }
  const urlHost = host.includes(":") ? `[${host}]` : host;
  const url = `${scheme}://${urlHost}:${port}`;
  log.info({ url, prefix, informers: Boolean(informers) }, "extender listening");

  return {
    url,
    port,
    urlPrefix: `${url}${prefix}`,
    state,
    metrics,
    synced: Promise.all([informers?.synced, profiles.loaded, recommendations.loaded]).then(() => undefined),
    close: async () => {
      await shutdown(server);
      for (const c of closers) await c();
    },
  };
}
