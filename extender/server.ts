// The extender's HTTP(S) server: `<prefix>/filter`, `<prefix>/prioritize`, `<prefix>/bind`, plus `/healthz` and
// `/metrics`. The verbs are in verbs.ts, their routes in routes.ts; decisions live in policy.ts and bind.ts.
import { readFileSync } from "node:fs";
import { pino, type Logger } from "pino";
import { Scheduling } from "../api/labels.js";
import { loadKubeConfig } from "../kube/client.js";
import { KubeClient } from "../kube/request.js";
import { parseProfiles, PROFILES_CONFIGMAP_KEYS, ProfileSet } from "../api/gpu-profile.js";
import { parseRecommendations, RECOMMENDATIONS_CONFIGMAP_KEY, RecommendationSet } from "../api/gpu-recommendation.js";
import type { PodBinder } from "./bind.js";
import { KubePodBinder, NoClusterBinder, startInformers, type InformerHandle } from "./kube.js";
import { ExtenderMetrics, type Verb } from "./metrics.js";
import { DEFAULT_WEIGHTS, type PolicyContext, type PolicyOptions } from "./policy.js";
import { configMapSource, fileSource, staticSource, type Reloadable, type ReloadHooks } from "./sources.js";
import { ClusterState } from "./state.js";
import { createServer, listen, shutdown } from "../serving/http-server.js";
import { extenderRoutes } from "./routes.js";
import { ExtenderVerbs } from "./verbs.js";

export { MAX_BODY_BYTES } from "./routes.js";

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

/** Reload outcomes counted and logged; a failed reload keeps the previous version. */
function reloadHooks(metrics: ExtenderMetrics, log: Logger): (what: string) => ReloadHooks {
  return (what) => ({
    onReload: (source) => {
      metrics.reloads.labels(what, "ok").inc();
      log.info({ source }, `${what} reloaded`);
    },
    onError: (source, err) => {
      metrics.reloads.labels(what, "error").inc();
      log.error({ source, err: err.message }, `${what} not reloaded; keeping the previous version`);
    },
  });
}

/** The GPU profiles and recommendations: given, from a file, from a ConfigMap, or empty. */
async function openInputs(
  options: ExtenderOptions,
  client: KubeClient | undefined,
  hooks: (what: string) => ReloadHooks,
): Promise<{ profiles: Reloadable<ProfileSet>; recommendations: Reloadable<RecommendationSet> }> {
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
  try {
    const recommendations = await source(
      "recommendations",
      options.recommendations,
      options.recommendationsFile,
      options.recommendationsConfigMap,
      [RECOMMENDATIONS_CONFIGMAP_KEY],
      parseRecommendations,
      RecommendationSet.empty(),
    );
    return { profiles, recommendations };
  } catch (err) {
    await profiles.close();
    throw err;
  }
}

function tlsMaterial(t: ExtenderOptions["tls"]): { cert: string; key: string } | undefined {
  return (
    t && {
      cert: "cert" in t ? t.cert : readFileSync(t.certFile, "utf8"),
      key: "key" in t ? t.key : readFileSync(t.keyFile, "utf8"),
    }
  );
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
  const { profiles, recommendations } = await openInputs(options, client, reloadHooks(metrics, log));
  const closers: (() => Promise<void>)[] = [profiles.close, recommendations.close];

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
  const verbs = new ExtenderVerbs({ state, policy, context, binder, log, metrics });
  const synced = Promise.all([informers?.synced, profiles.loaded, recommendations.loaded]).then(() => undefined);
  // Until the node and pod informers have listed, every node looks unknown and fails the filter. Profiles are not
  // waited for: a missing profile ConfigMap leaves the empty set in force, as before the first read.
  const notReady = () =>
    informers === undefined || informers.hasSynced() ? undefined : "nodes and pods not listed from the API server yet";
  const handler = extenderRoutes({
    prefix,
    verbs,
    state,
    metrics,
    log,
    onDecision: options.onDecision,
    notReady,
  });

  const tls = tlsMaterial(options.tls);
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
    synced,
    close: async () => {
      await shutdown(server);
      for (const c of closers) await c();
    },
  };
}
