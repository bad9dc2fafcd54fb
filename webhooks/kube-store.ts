// The cluster side of the webhooks, with @kubernetes/client-node: the certificate Secret (optimistic concurrency),
// caBundle publication into our webhook configurations, KVCache reads and API discovery for /scale checks.
import * as k8s from "@kubernetes/client-node";
import type { ClusterLookup, ResourceFacts } from "./cluster.js";
import { ConflictError, type CaBundlePublisher, type SecretStore, type StoredSecret } from "./secret-store.js";
import { applyClientConfig } from "./webhook-configurations.js";

function statusOf(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  const code = (err as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

function decode(secret: k8s.V1Secret): StoredSecret {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, "base64").toString("utf8");
  return { data, resourceVersion: secret.metadata?.resourceVersion ?? "" };
}

function encode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
}

export class KubeSecretStore implements SecretStore {
  private readonly core: k8s.CoreV1Api;
  constructor(kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async read(namespace: string, name: string): Promise<StoredSecret | undefined> {
    try {
      return decode(await this.core.readNamespacedSecret({ namespace, name }));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async create(namespace: string, name: string, data: Record<string, string>): Promise<StoredSecret> {
    const body: k8s.V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name,
        namespace,
        labels: { "app.kubernetes.io/component": "webhooks", "app.kubernetes.io/part-of": "aibrix-ts" },
      },
      type: "kubernetes.io/tls",
      data: encode(data),
    };
    try {
      return decode(await this.core.createNamespacedSecret({ namespace, body }));
    } catch (err) {
      if (statusOf(err) === 409) throw new ConflictError(`secret ${namespace}/${name} already exists`);
      throw err;
    }
  }

  async update(namespace: string, name: string, data: Record<string, string>, resourceVersion: string) {
    const body: k8s.V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace, resourceVersion },
      type: "kubernetes.io/tls",
      data: encode(data),
    };
    try {
      return decode(await this.core.replaceNamespacedSecret({ namespace, name, body }));
    } catch (err) {
      if (statusOf(err) === 409)
        throw new ConflictError(`secret ${namespace}/${name} changed since ${resourceVersion}`);
      throw err;
    }
  }
}

export interface KubePublisherOptions {
  mutatingName?: string;
  validatingName?: string;
  /** Out-of-cluster: rewrite clientConfig to this base URL. */
  url?: string;
  /** Manifests to create when a configuration does not exist yet (else a missing one is an error). */
  create?: { mutating: Record<string, unknown>; validating: Record<string, unknown> };
}

/** Writes caBundle into every webhook of our Mutating/ValidatingWebhookConfigurations (retrying on conflicts). */
export class KubeCaBundlePublisher implements CaBundlePublisher {
  private readonly admission: k8s.AdmissionregistrationV1Api;
  constructor(
    kc: k8s.KubeConfig,
    private readonly opts: KubePublisherOptions,
    private readonly manifestsFor?: (caBundlePem: string) => {
      mutating: Record<string, unknown>;
      validating: Record<string, unknown>;
    },
  ) {
    this.admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  }

  async publishCaBundle(caBundlePem: string): Promise<void> {
    const manifests = this.manifestsFor?.(caBundlePem);
    if (this.opts.mutatingName) {
      await this.patchOne(
        () => this.admission.readMutatingWebhookConfiguration({ name: this.opts.mutatingName as string }),
        (body) => this.admission.replaceMutatingWebhookConfiguration({ name: this.opts.mutatingName as string, body }),
        manifests && ((body) => this.admission.createMutatingWebhookConfiguration({ body })),
        manifests?.mutating as k8s.V1MutatingWebhookConfiguration | undefined,
        caBundlePem,
      );
    }
    if (this.opts.validatingName) {
      await this.patchOne(
        () => this.admission.readValidatingWebhookConfiguration({ name: this.opts.validatingName as string }),
        (body) =>
          this.admission.replaceValidatingWebhookConfiguration({ name: this.opts.validatingName as string, body }),
        manifests && ((body) => this.admission.createValidatingWebhookConfiguration({ body })),
        manifests?.validating as k8s.V1ValidatingWebhookConfiguration | undefined,
        caBundlePem,
      );
    }
  }

  private async patchOne<T extends { webhooks?: unknown[] }>(
    read: () => Promise<T>,
    replace: (body: T) => Promise<T>,
    create: ((body: T) => Promise<T>) | undefined,
    manifest: T | undefined,
    caBundlePem: string,
  ): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      let current: T;
      try {
        current = await read();
      } catch (err) {
        if (statusOf(err) !== 404 || !create || !manifest) throw err;
        try {
          await create(manifest);
          return;
        } catch (createErr) {
          if (statusOf(createErr) === 409) continue; // created by a neighbour meanwhile: patch theirs
          throw createErr;
        }
      }
      const changed = applyClientConfig(
        current as { webhooks?: { clientConfig?: Record<string, unknown> }[] },
        caBundlePem,
        this.opts.url,
      );
      if (!changed) return;
      try {
        await replace(current);
        return;
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
      }
    }
    throw new Error("webhook configuration kept changing underneath; caBundle not written after 5 attempts");
  }
}

/** KVCache reads and discovery through the API server. Wrap in CachedClusterLookup for admission latency. */
export class KubeClusterLookup implements ClusterLookup {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  constructor(kc: k8s.KubeConfig) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async getKVCache(namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: "orchestration.aibrix.ai",
        version: "v1alpha1",
        namespace,
        plural: "kvcaches",
        name,
      })) as Record<string, unknown>;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async resourceFacts(apiVersion: string, kind: string): Promise<ResourceFacts> {
    const slash = apiVersion.indexOf("/");
    let list: k8s.V1APIResourceList;
    try {
      list =
        slash < 0
          ? await this.core.getAPIResources()
          : await this.custom.getAPIResources({
              group: apiVersion.slice(0, slash),
              version: apiVersion.slice(slash + 1),
            });
    } catch (err) {
      if (statusOf(err) === 404) return { served: false, scalable: false };
      throw err;
    }
    const main = list.resources.find((r) => r.kind === kind && !r.name.includes("/"));
    if (!main) return { served: false, scalable: false };
    return { served: true, scalable: list.resources.some((r) => r.name === `${main.name}/scale`) };
  }
}

export interface KubeWiringOptions {
  /** A loaded KubeConfig, or a kubeconfig file path ("" = the usual lookup: $KUBECONFIG, in-cluster, ~/.kube). */
  kubeConfig: k8s.KubeConfig | string;
  mutatingConfiguration?: string;
  validatingConfiguration?: string;
  /** Out-of-cluster: the API server calls this base URL (e.g. https://127.0.0.1:9443) instead of the Service. */
  webhookUrl?: string;
  /** Create the webhook configurations when missing (needs webhookUrl or the Service coordinates). */
  createConfigurations?: boolean;
  validationFailurePolicy?: "Fail" | "Ignore";
  excludedNamespaces?: string[];
}
