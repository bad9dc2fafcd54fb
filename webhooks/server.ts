// The admission webhook server: HTTPS (express), AdmissionReview v1 in and out.
//
// Paths served (POST, body = AdmissionReview admission.k8s.io/v1):
//   mutating   /mutate-v1-pod                                        pods (CREATE)
//              /mutate-apps-v1-deployment                            deployments
//              /mutate-orchestration-aibrix-ai-v1alpha1-rayclusterfleet
//              /mutate-orchestration-aibrix-ai-v1alpha1-rayclusterreplicaset
//              /mutate-model-aibrix-ai-v1alpha1-modeladapter         (defaults only)
//              /mutate-autoscaling-aibrix-ai-v1alpha1-podautoscaler  (defaults only)
//              /mutate-orchestration-aibrix-ai-v1alpha1-kvcache      (defaults only)
//              /mutate                                               any of the above, by request.kind
//   validating /validate-model-aibrix-ai-v1alpha1-modeladapter
//              /validate-autoscaling-aibrix-ai-v1alpha1-podautoscaler
//              /validate-orchestration-aibrix-ai-v1alpha1-rayclusterfleet
//              /validate-orchestration-aibrix-ai-v1alpha1-rayclusterreplicaset
//              /validate-orchestration-aibrix-ai-v1alpha1-kvcache
//              /validate                                             any of the above, by request.kind
// Plus GET /healthz, /readyz, /metrics (Prometheus text). Bad bodies get HTTP 400 with {error, field, rule}; policy
// decisions are always HTTP 200. The same list, as data, is WEBHOOK_PATHS in paths.ts.
import type { AddressInfo } from "node:net";
import type https from "node:https";
import express, { type NextFunction, type Request, type Response } from "express";
import pino, { type Logger } from "pino";
import { admit, type AdmissionDeps } from "./admission.js";
import { CertificateManager } from "./certificate-manager.js";
import { certificateFacts, serviceDnsNames } from "./certificates.js";
import type { ClusterLookup } from "./cluster.js";
import { resolveWebhookConfig, type WebhookConfig, type WebhookConfigInput } from "./config.js";
import { WebhookMetrics } from "./metrics.js";
import { GENERIC_PATHS, roleOfPath, WEBHOOK_PATHS } from "./paths.js";
import { MemorySecretStore, type CaBundlePublisher, type SecretStore } from "./secret-store.js";
import { loadKubeConfig } from "../kube/client.js";
import { CachedClusterLookup } from "./cluster.js";
import { KubeCaBundlePublisher, KubeClusterLookup, KubeSecretStore, type KubeWiringOptions } from "./kube-store.js";
import { webhookConfigurationManifests } from "./webhook-configurations.js";
import { createServer, tlsDefaults, type ServerLimits } from "../serving/http-server.js";
import { readBody } from "../serving/body.js";
import { HttpError } from "../serving/errors.js";

export interface CertificateSettings {
  /** Where the CA and serving certificate are kept; default: memory (single process, tests). */
  store?: SecretStore;
  /** Who learns the CA (our webhook configurations); default: nobody. */
  publisher?: CaBundlePublisher;
  namespace?: string;
  service?: string;
  secretName?: string;
  /** More SANs; default `localhost` and `127.0.0.1` so out-of-cluster runs and tests can verify the server. */
  extraNames?: string[];
  caLifetimeSeconds?: number;
  leafLifetimeSeconds?: number;
  checkIntervalMs?: number;
}

export interface StartWebhooksOptions {
  host?: string;
  /** 0 picks a free port. Default 9443. */
  port?: number;
  /** Sidecar, scheduler and GPU settings (merged over the defaults). */
  config?: WebhookConfigInput;
  certificates?: CertificateSettings;
  /** KVCache reads and /scale discovery; without it those checks are skipped with a warning. */
  cluster?: ClusterLookup;
  logger?: Logger;
  logLevel?: string;
  /**
   * Run against an API server: certificates in a Secret, caBundle written into our webhook configurations (created
   * when asked), KVCache and discovery lookups. Explicit `certificates.store`/`publisher` and `cluster` still win.
   */
  kube?: KubeWiringOptions;
  /** Largest accepted request body; larger ones get 400. Default 3 MiB (the API server's own request cap). */
  maxBodyBytes?: number;
  /** Connection and deadline limits of the HTTPS server. */
  limits?: Partial<ServerLimits>;
}

export interface WebhookServer {
  url: string;
  port: number;
  /** PEM of the CA(s) clients must trust; what goes (base64) into a webhook configuration's caBundle. */
  caBundle: string;
  config: WebhookConfig;
  certificates: CertificateManager;
  metrics: WebhookMetrics;
  server: https.Server;
  close(): Promise<void>;
}

export const DEFAULTS = {
  host: "0.0.0.0",
  port: 9443,
  namespace: "aibrix-system",
  service: "aibrix-ts-webhooks",
  secretName: "aibrix-ts-webhook-certs",
  extraNames: ["localhost", "127.0.0.1"],
  caLifetimeSeconds: 10 * 365 * 24 * 3600,
  leafLifetimeSeconds: 365 * 24 * 3600,
  checkIntervalMs: 10 * 60 * 1000,
  maxBodyBytes: 3 * 1024 * 1024,
} as const;

export const DEFAULT_CONFIGURATION_NAMES = {
  mutating: "aibrix-ts-mutating-webhooks",
  validating: "aibrix-ts-validating-webhooks",
} as const;

function buildApp(deps: AdmissionDeps, metrics: WebhookMetrics, maxBodyBytes: number, ready: () => boolean) {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  // Paths match exactly (no case folding, no trailing slash), so each path maps to one webhook role and metric label.
  app.set("case sensitive routing", true);
  app.set("strict routing", true);
  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok");
  });
  app.get("/readyz", (_req, res) => {
    if (ready()) res.type("text/plain").send("ok");
    else res.status(503).type("text/plain").send("not ready: shutting down");
  });
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  const paths = [...WEBHOOK_PATHS.map((p) => p.path), ...Object.keys(GENERIC_PATHS)];
  app.post(paths, async (req: Request, res: Response) => {
    const started = process.hrtime.bigint();
    const webhook = req.path.slice(1);
    const role = roleOfPath(req.path);
    if (!role) {
      res.status(404).json({ error: `no webhook at ${req.path}` });
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      const error = `request body is over ${maxBodyBytes} bytes (object too large to admit)`;
      deps.logger.info({ webhook }, "request body too large");
      res.status(400).set("connection", "close").json({ error, field: "(body)", rule: "max-size" });
      metrics.observe(webhook, "bad_request", Number(process.hrtime.bigint() - started) / 1e9);
      return;
    }
    const result = await admit(deps, role, body);
    if (result.status === 400) deps.logger.info({ webhook, error: result.body.error }, "bad admission request");
    res.status(result.status).json(result.body);
    metrics.observe(webhook, result.outcome, Number(process.hrtime.bigint() - started) / 1e9);
  });
  app.all(paths, (req, res) => {
    res
      .status(405)
      .set("Allow", "POST")
      .json({ error: `${req.method} not allowed on ${req.path}; send POST with an AdmissionReview` });
  });
  app.use((req, res) => {
    res.status(404).json({ error: `no webhook at ${req.path}; served paths: ${paths.join(", ")}` });
  });
  // Anything express itself rejects (bad URL encoding, aborted body) is the client's fault, never a 5xx.
  app.use((err: Error & { status?: number }, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 400;
    deps.logger.info({ path: req.path, err: err.message }, "request rejected");
    if (!res.headersSent) res.status(status).json({ error: `bad request: ${err.message}` });
  });
  return app;
}

type CertificateOptions = NonNullable<StartWebhooksOptions["certificates"]>;

/**
 * With `options.kube`: certificates stored in a Secret, the CA bundle published to the webhook configurations (created
 * when asked), and cluster lookups through the API server. Fills what `c` does not set; returns the cluster lookup.
 */
function useKube(
  options: StartWebhooksOptions,
  c: CertificateOptions,
  namespace: string,
  service: string,
): AdmissionDeps["cluster"] {
  const k = options.kube;
  if (!k) return options.cluster;
  const kc = typeof k.kubeConfig === "string" ? loadKubeConfig(k.kubeConfig || undefined) : k.kubeConfig;
  const mutatingName = k.mutatingConfiguration ?? DEFAULT_CONFIGURATION_NAMES.mutating;
  const validatingName = k.validatingConfiguration ?? DEFAULT_CONFIGURATION_NAMES.validating;
  const manifestsFor = k.createConfigurations
    ? (caBundlePem: string) =>
        webhookConfigurationManifests({
          mutatingName,
          validatingName,
          caBundlePem,
          url: k.webhookUrl,
          service: k.webhookUrl ? undefined : { namespace, name: service, port: 443 },
          excludedNamespaces: k.excludedNamespaces ?? ["kube-system", "kube-node-lease", namespace],
          validationFailurePolicy: k.validationFailurePolicy ?? "Fail",
          timeoutSeconds: 5,
        })
    : undefined;
  c.store ??= new KubeSecretStore(kc);
  c.publisher ??= new KubeCaBundlePublisher(kc, { mutatingName, validatingName, url: k.webhookUrl }, manifestsFor);
  return options.cluster ?? new CachedClusterLookup(new KubeClusterLookup(kc));
}

function certificateManager(c: CertificateOptions, namespace: string, service: string, logger: Logger) {
  const names = [...new Set([...serviceDnsNames(service, namespace), ...(c.extraNames ?? DEFAULTS.extraNames)])];
  return new CertificateManager({
    store: c.store ?? new MemorySecretStore(),
    publisher: c.publisher,
    namespace,
    secretName: c.secretName ?? DEFAULTS.secretName,
    names,
    caLifetimeSeconds: c.caLifetimeSeconds ?? DEFAULTS.caLifetimeSeconds,
    leafLifetimeSeconds: c.leafLifetimeSeconds ?? DEFAULTS.leafLifetimeSeconds,
    checkIntervalMs: c.checkIntervalMs ?? DEFAULTS.checkIntervalMs,
    logger,
  });
}

/** Starts the HTTPS admission server with a certificate loaded (or created) from the configured store. */
export async function startWebhooks(options: StartWebhooksOptions = {}): Promise<WebhookServer> {
  const logger = options.logger ?? pino({ level: options.logLevel ?? "info", base: { component: "webhooks" } });
  const config = resolveWebhookConfig(options.config);
  const c = { ...options.certificates };
  const namespace = c.namespace ?? DEFAULTS.namespace;
  const service = c.service ?? DEFAULTS.service;
  const cluster = useKube(options, c, namespace, service);
  const certificates = certificateManager(c, namespace, service, logger);
  const bundle = await certificates.ensure();
  const metrics = new WebhookMetrics();
  metrics.certificateExpiry.set(certificateFacts(bundle.certPem).notAfter.getTime() / 1000);
  let closing = false;
  const deps: AdmissionDeps = { config, cluster, logger };
  const app = buildApp(deps, metrics, options.maxBodyBytes ?? DEFAULTS.maxBodyBytes, () => !closing);
  const server = createServer(app, {
    tls: { key: bundle.keyPem, cert: bundle.certPem },
    log: logger,
    // The API server keeps connections open between admissions; let them live longer than its idle timeout.
    limits: { keepAliveTimeoutMs: 65_000, ...options.limits },
  }).server as https.Server;
  certificates.onChange((next) => {
    // New handshakes get the renewed certificate; connections already open keep theirs (nothing is dropped).
    server.setSecureContext({ key: next.keyPem, cert: next.certPem, ...tlsDefaults });
    metrics.certificateReloads.inc();
    metrics.certificateExpiry.set(certificateFacts(next.certPem).notAfter.getTime() / 1000);
    logger.info({ notAfter: certificateFacts(next.certPem).notAfter.toISOString() }, "serving certificate reloaded");
  });
  certificates.start();

  const host = options.host ?? DEFAULTS.host;
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => {
      certificates.stop();
      reject(err);
    };
    server.once("error", failed);
    server.listen(options.port ?? DEFAULTS.port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  server.on("error", (err) => logger.error({ err: err.message }, "HTTPS server error"));
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  // The CA is public; logging it (base64, as caBundle wants it) lets out-of-cluster setups paste it into a chart.
  const caBundleBase64 = Buffer.from(certificates.current.caBundlePem).toString("base64");
  logger.info(
    { host, port, paths: WEBHOOK_PATHS.map((p) => p.path), caBundle: caBundleBase64 },
    "admission webhooks listening",
  );

  return {
    url: `https://${urlHost}:${port}`,
    port,
    get caBundle() {
      return certificates.current.caBundlePem;
    },
    config,
    certificates,
    metrics,
    server,
    async close() {
      closing = true;
      certificates.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
    },
  };
}
