// The API-server implementations against a small in-process stand-in for kube-apiserver (plain HTTP on loopback):
// checks the requests client-node makes for us and how 404/409 answers are turned into our semantics.
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { CertificateManager } from "../../../webhooks/certificate-manager.js";
import { KubeCaBundlePublisher, KubeClusterLookup, KubeSecretStore } from "../../../webhooks/kube-store.js";
import { startWebhooks } from "../../../webhooks/server.js";
import { webhookConfigurationManifests } from "../../../webhooks/webhook-configurations.js";
import { silent, type Json } from "./fixtures.js";

class FakeApiServer {
  readonly objects = new Map<string, Json>();
  private version = 100;
  requests: string[] = [];
  private server = http.createServer((req, res) => this.handle(req, res));

  async start(): Promise<k8s.KubeConfig> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    const port = (this.server.address() as AddressInfo).port;
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "c", cluster: "fake", user: "u" }],
      currentContext: "c",
    });
    return kc;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private send(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  private status(res: http.ServerResponse, code: number, reason: string): void {
    this.send(res, code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, code });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const p = url.pathname;
      this.requests.push(`${req.method} ${p}`);
      const resources: Record<string, { kind: string; name: string }[]> = {
        "/apis/apps/v1": [
          { name: "deployments", kind: "Deployment" },
          { name: "deployments/scale", kind: "Scale" },
        ],
        "/apis/orchestration.aibrix.ai/v1alpha1": [
          { name: "kvcaches", kind: "KVCache" },
          { name: "rayclusterfleets", kind: "RayClusterFleet" },
          { name: "rayclusterfleets/scale", kind: "Scale" },
        ],
        "/api/v1": [{ name: "pods", kind: "Pod" }],
      };
      if (req.method === "GET" && resources[p]) {
        return this.send(res, 200, {
          kind: "APIResourceList",
          groupVersion: p.replace(/^\/apis?\//, ""),
          resources: resources[p]!.map((r) => ({ ...r, namespaced: true, singularName: "", verbs: ["get"] })),
        });
      }
      const body = raw ? (JSON.parse(raw) as Json) : undefined;
      if (req.method === "GET") {
        const obj = this.objects.get(p);
        return obj ? this.send(res, 200, obj) : this.status(res, 404, "NotFound");
      }
      if (req.method === "POST" && body) {
        const key = `${p}/${(body.metadata as Json).name as string}`;
        if (this.objects.has(key)) return this.status(res, 409, "AlreadyExists");
        (body.metadata as Json).resourceVersion = String(++this.version);
        this.objects.set(key, body);
        return this.send(res, 201, body);
      }
      if (req.method === "PUT" && body) {
        const current = this.objects.get(p);
        if (!current) return this.status(res, 404, "NotFound");
        const rv = (body.metadata as Json).resourceVersion;
        if (rv !== (current.metadata as Json).resourceVersion) return this.status(res, 409, "Conflict");
        (body.metadata as Json).resourceVersion = String(++this.version);
        this.objects.set(p, body);
        return this.send(res, 200, body);
      }
      return this.status(res, 405, "MethodNotAllowed");
    });
  }
}

describe("webhooks: API-server backed stores", function () {
  this.timeout(30_000);
  let api: FakeApiServer;
  let kc: k8s.KubeConfig;
  beforeEach(async () => {
    api = new FakeApiServer();
    kc = await api.start();
  });
  afterEach(() => api.stop());

  it("two managers on one Secret converge through a real 409 AlreadyExists", async () => {
    const make = () =>
      new CertificateManager({
        store: new KubeSecretStore(kc),
        namespace: "aibrix-system",
        secretName: "certs",
        names: ["svc.aibrix-system.svc", "127.0.0.1"],
        caLifetimeSeconds: 3600,
        leafLifetimeSeconds: 600,
        checkIntervalMs: 60_000,
        logger: silent,
      });
    const [a, b] = await Promise.all([make().ensure(), make().ensure()]);
    expect(a.certPem).to.equal(b.certPem);
    const secret = api.objects.get("/api/v1/namespaces/aibrix-system/secrets/certs") as Json;
    expect(secret.type).to.equal("kubernetes.io/tls");
    expect(Buffer.from((secret.data as Record<string, string>)["tls.crt"]!, "base64").toString()).to.equal(a.certPem);
    expect(api.requests.filter((r) => r.startsWith("POST")).length).to.be.within(1, 2);
  });

  it("maps a stale resourceVersion on update to a conflict", async () => {
    const store = new KubeSecretStore(kc);
    const created = await store.create("ns", "s", { a: "1" });
    await store.update("ns", "s", { a: "2" }, created.resourceVersion);
    let error: unknown;
    try {
      await store.update("ns", "s", { a: "3" }, created.resourceVersion);
    } catch (err) {
      error = err;
    }
    expect((error as Error).name).to.equal("ConflictError");
    expect((await store.read("ns", "s"))?.data).to.deep.equal({ a: "2" });
    expect(await store.read("ns", "missing")).to.equal(undefined);
  });

  it("writes caBundle into every webhook and, out of cluster, points clientConfig at the URL", async () => {
    const manifests = webhookConfigurationManifests({
      mutatingName: "m",
      validatingName: "v",
      caBundlePem: "old",
      service: { namespace: "aibrix-system", name: "aibrix-ts-webhooks", port: 443 },
      excludedNamespaces: ["kube-system"],
      validationFailurePolicy: "Fail",
      timeoutSeconds: 5,
    });
    api.objects.set("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/m", {
      ...manifests.mutating,
      metadata: { name: "m", resourceVersion: "1" },
    });
    api.objects.set("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/v", {
      ...manifests.validating,
      metadata: { name: "v", resourceVersion: "1" },
    });
    await new KubeCaBundlePublisher(kc, {
      mutatingName: "m",
      validatingName: "v",
      url: "https://127.0.0.1:9443",
    }).publishCaBundle("NEW-CA");
    const mutating = api.objects.get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/m") as {
      webhooks: { clientConfig: Json }[];
    };
    const validating = api.objects.get("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/v") as {
      webhooks: { clientConfig: Json }[];
    };
    for (const w of [...mutating.webhooks, ...validating.webhooks]) {
      expect(w.clientConfig.caBundle).to.equal(Buffer.from("NEW-CA").toString("base64"));
      expect(w.clientConfig.service).to.equal(undefined);
      expect(w.clientConfig.url).to.match(/^https:\/\/127\.0\.0\.1:9443\/(mutate|validate)-/);
    }
    expect(mutating.webhooks.map((w) => w.clientConfig.url)).to.include("https://127.0.0.1:9443/mutate-v1-pod");
  });

  it("answers discovery and KVCache questions from the API server", async () => {
    const lookup = new KubeClusterLookup(kc);
    expect(await lookup.resourceFacts("apps/v1", "Deployment")).to.deep.equal({ served: true, scalable: true });
    expect(await lookup.resourceFacts("orchestration.aibrix.ai/v1alpha1", "KVCache")).to.deep.equal({
      served: true,
      scalable: false,
    });
    expect(await lookup.resourceFacts("argoproj.io/v1alpha1", "Rollout")).to.deep.equal({
      served: false,
      scalable: false,
    });
    expect(await lookup.getKVCache("default", "nope")).to.equal(undefined);
    api.objects.set("/apis/orchestration.aibrix.ai/v1alpha1/namespaces/default/kvcaches/kvc", {
      metadata: { name: "kvc" },
      status: { current: 2 },
    });
    expect((await lookup.getKVCache("default", "kvc"))?.status).to.deep.equal({ current: 2 });
  });

  it("startWebhooks with kube wiring: Secret created, configurations created with url clientConfig and caBundle", async () => {
    const server = await startWebhooks({
      host: "127.0.0.1",
      port: 0,
      logger: silent,
      kube: { kubeConfig: kc, webhookUrl: "https://127.0.0.1:9999", createConfigurations: true },
    });
    try {
      expect(api.objects.has("/api/v1/namespaces/aibrix-system/secrets/aibrix-ts-webhook-certs")).to.equal(true);
      const mutating = api.objects.get(
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/aibrix-ts-mutating-webhooks",
      ) as {
        webhooks: { clientConfig: Json; failurePolicy: string }[];
      };
      expect(mutating.webhooks[0]!.clientConfig.url).to.equal("https://127.0.0.1:9999/mutate-v1-pod");
      expect(Buffer.from(mutating.webhooks[0]!.clientConfig.caBundle as string, "base64").toString()).to.equal(
        server.caBundle,
      );
      expect(mutating.webhooks[0]!.failurePolicy).to.equal("Ignore");
      const validating = api.objects.get(
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/aibrix-ts-validating-webhooks",
      ) as {
        webhooks: { failurePolicy: string }[];
      };
      expect(validating.webhooks.map((w) => w.failurePolicy)).to.deep.equal(["Fail", "Fail", "Fail", "Fail", "Fail"]);
    } finally {
      await server.close();
    }
  });
});
