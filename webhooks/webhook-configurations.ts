// Mutating/ValidatingWebhookConfiguration manifests pointing at this server, either through a Service (in
// cluster) or a URL (out-of-cluster runs against a loopback API server). The chart mirrors these.
import { WEBHOOK_PATHS, type WebhookPath } from "./paths.js";

export interface WebhookConfigurationOptions {
  mutatingName: string;
  validatingName: string;
  caBundlePem: string;
  /** In-cluster: the Service in front of the webhook pods. */
  service?: { namespace: string; name: string; port: number };
  /** Out-of-cluster: base URL such as https://127.0.0.1:9443 (paths are appended). */
  url?: string;
  /** Namespaces never sent to the pod/deployment webhooks (the control plane's own, kube-system...). */
  excludedNamespaces: string[];
  /** CR validation: Fail refuses objects while the webhook is down; Ignore admits them unchecked. */
  validationFailurePolicy: "Fail" | "Ignore";
  timeoutSeconds: number;
}

export interface ClientConfig {
  service?: { namespace: string; name: string; path: string; port: number };
  url?: string;
  caBundle: string;
}

export function clientConfigFor(
  path: string,
  o: Pick<WebhookConfigurationOptions, "service" | "url" | "caBundlePem">,
): ClientConfig {
  const caBundle = Buffer.from(o.caBundlePem).toString("base64");
  if (o.url) return { url: o.url.replace(/\/+$/, "") + path, caBundle };
  if (!o.service) throw new Error("webhook configuration needs either a service or a url to call");
  return { service: { ...o.service, path }, caBundle };
}

function webhookName(p: WebhookPath): string {
  return `${p.resource}.${p.role}.webhooks.aibrix-ts.io`;
}

function isWorkload(p: WebhookPath): boolean {
  return p.resource === "pods" || p.resource === "deployments";
}

export function webhookConfigurationManifests(o: WebhookConfigurationOptions): {
  mutating: Record<string, unknown>;
  validating: Record<string, unknown>;
} {
  const hook = (p: WebhookPath) => ({
    name: webhookName(p),
    clientConfig: clientConfigFor(p.path, o),
    rules: [
      {
        operations: p.resource === "pods" ? ["CREATE"] : ["CREATE", "UPDATE"],
        apiGroups: [p.apiGroup],
        apiVersions: [p.apiVersion],
        resources: [p.resource],
        scope: "Namespaced",
      },
    ],
    ...(isWorkload(p)
      ? {
          namespaceSelector: {
            matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: o.excludedNamespaces }],
          },
        }
      : {}),
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: o.timeoutSeconds,
  });
  return {
    mutating: {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: { name: o.mutatingName },
      webhooks: WEBHOOK_PATHS.filter((p) => p.role === "mutate").map((p) => ({
        ...hook(p),
        // Mutation is a convenience; the validating webhook and the API server's own checks guard the result.
        failurePolicy: "Ignore",
        reinvocationPolicy: "IfNeeded",
      })),
    },
    validating: {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: o.validatingName },
      webhooks: WEBHOOK_PATHS.filter((p) => p.role === "validate").map((p) => ({
        ...hook(p),
        failurePolicy: o.validationFailurePolicy,
      })),
    },
  };
}

/**
 * Rewrites the clientConfig of every webhook in a stored configuration: the new caBundle, and (out of cluster) a URL
 * built from the path the entry already calls. Returns true when something changed.
 */
export function applyClientConfig(
  config: { webhooks?: { clientConfig?: Record<string, unknown> }[] },
  caBundlePem: string,
  url?: string,
): boolean {
  const caBundle = Buffer.from(caBundlePem).toString("base64");
  let changed = false;
  for (const w of config.webhooks ?? []) {
    const cc = (w.clientConfig ??= {});
    if (url) {
      const service = cc.service as { path?: string } | undefined;
      const existing = typeof cc.url === "string" ? new URL(cc.url).pathname : undefined;
      const path = service?.path ?? existing ?? "/";
      const next = url.replace(/\/+$/, "") + path;
      if (cc.url !== next || cc.service !== undefined) {
        delete cc.service;
        cc.url = next;
        changed = true;
      }
    }
    if (cc.caBundle !== caBundle) {
      cc.caBundle = caBundle;
      changed = true;
    }
  }
  return changed;
}
