import { X509Certificate } from "node:crypto";
import { expect } from "chai";
import pino from "pino";
import { startWebhooks, type WebhookServer } from "../../../webhooks/server.js";
import { httpsRequest } from "./helpers.js";

const uid = "0f7e7c1c-1111-4111-8111-000000000042";

function reviewBody(object: Record<string, unknown>, kind: { group: string; version: string; kind: string }): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid, kind, operation: "CREATE", namespace: "default", object },
  });
}

describe("webhooks over real HTTPS", function () {
  this.timeout(30_000);
  let server: WebhookServer;

  before(async () => {
    server = await startWebhooks({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }) });
  });
  after(async () => {
    await server.close();
  });

  it("serves a certificate for 127.0.0.1 that verifies against the caBundle it reports", async () => {
    const reply = await httpsRequest(`${server.url}/healthz`, { ca: server.caBundle });
    expect(reply.status).to.equal(200);
    const cert = new X509Certificate(reply.socket.getPeerCertificate().raw);
    expect(cert.subjectAltName).to.include("IP Address:127.0.0.1");
    expect(cert.subjectAltName).to.include("DNS:aibrix-ts-webhooks.aibrix-system.svc");
    let failure: unknown;
    try {
      await httpsRequest(`${server.url}/healthz`); // no CA: must not be trusted
    } catch (err) {
      failure = err;
    }
    expect(String(failure)).to.match(/self[- ]signed|unable to verify|certificate/i);
  });

  it("injects the sidecar into a pod and echoes the uid", async () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "p",
        labels: { "model.aibrix.ai/name": "m" },
        annotations: { "model.aibrix.ai/sidecar-injection": "true" },
      },
      spec: {
        containers: [{ name: "vllm", image: "vllm/vllm-openai", resources: { limits: { "nvidia.com/gpu": "1" } } }],
      },
    };
    const reply = await httpsRequest(`${server.url}/mutate-v1-pod`, {
      ca: server.caBundle,
      body: reviewBody(pod, { group: "", version: "v1", kind: "Pod" }),
    });
    expect(reply.status).to.equal(200);
    const review = reply.json();
    expect(review).to.include({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" });
    const response = review.response as Record<string, unknown>;
    expect(response).to.include({ uid, allowed: true, patchType: "JSONPatch" });
    const patch = JSON.parse(Buffer.from(response.patch as string, "base64").toString()) as {
      path: string;
      value: unknown;
    }[];
    // The runtime goes first (AIBrix order); no scheduler switch without a configured GPU scheduler.
    expect(patch.map((p) => p.path)).to.include("/spec/containers/0");
    expect(patch.map((p) => p.path)).not.to.include("/spec/schedulerName");
  });

  it("denies an invalid PodAutoscaler with HTTP 200, allowed=false and a message naming field, value and rule", async () => {
    const pa = {
      apiVersion: "autoscaling.aibrix.ai/v1alpha1",
      kind: "PodAutoscaler",
      metadata: { name: "bad", namespace: "default" },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "x" },
        maxReplicas: 0,
        scalingStrategy: "KPA",
        metricsSources: [],
      },
    };
    const reply = await httpsRequest(`${server.url}/validate-autoscaling-aibrix-ai-v1alpha1-podautoscaler`, {
      ca: server.caBundle,
      body: reviewBody(pa, { group: "autoscaling.aibrix.ai", version: "v1alpha1", kind: "PodAutoscaler" }),
    });
    expect(reply.status).to.equal(200);
    const response = reply.json().response as { allowed: boolean; status: { code: number; message: string } };
    expect(response.allowed).to.equal(false);
    expect(response.status.code).to.equal(422);
    expect(response.status.message).to.match(/spec\.maxReplicas: 0 breaks rule "minimum"/);
  });

  const bad: [string, string | Buffer, RegExp][] = [
    ["a malformed body", '{"apiVersion":', /not valid JSON/],
    [
      "the wrong API version",
      JSON.stringify({ apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview", request: {} }),
      /admission.k8s.io\/v1beta1.*not supported/,
    ],
    [
      "a missing request",
      JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }),
      /needs \.request/,
    ],
    ["a 4 MiB body", Buffer.alloc(4 * 1024 * 1024, 0x20), /over 3145728 bytes/],
  ];
  for (const [what, body, message] of bad) {
    it(`answers ${what} with 400 and a clear message`, async () => {
      const reply = await httpsRequest(`${server.url}/validate`, { ca: server.caBundle, body });
      expect(reply.status).to.equal(400);
      expect(reply.json().error).to.match(message);
    });
  }

  it("answers GET on a webhook path with 405 and unknown paths with 404 listing the served paths", async () => {
    const get = await httpsRequest(`${server.url}/mutate`, { ca: server.caBundle });
    expect(get.status).to.equal(405);
    const missing = await httpsRequest(`${server.url}/mutate-everything`, { ca: server.caBundle, body: "{}" });
    expect(missing.status).to.equal(404);
    expect(missing.json().error).to.include("/validate-orchestration-aibrix-ai-v1alpha1-kvcache");
    // Exact paths only: a case-folded or slash-suffixed path must not land on some webhook by accident.
    for (const path of ["/MUTATE", "/mutate/", "/Validate-model-aibrix-ai-v1alpha1-modeladapter"]) {
      expect((await httpsRequest(`${server.url}${path}`, { ca: server.caBundle, body: "{}" })).status, path).to.equal(
        404,
      );
    }
  });

  it("reports readiness and admission metrics by webhook and outcome", async () => {
    expect((await httpsRequest(`${server.url}/readyz`, { ca: server.caBundle })).status).to.equal(200);
    const metrics = (await httpsRequest(`${server.url}/metrics`, { ca: server.caBundle })).body;
    expect(metrics).to.match(/aibrix_webhook_admission_requests_total\{webhook="mutate-v1-pod",outcome="patched"\} 1/);
    expect(metrics).to.match(
      /aibrix_webhook_admission_requests_total\{webhook="validate-autoscaling-aibrix-ai-v1alpha1-podautoscaler",outcome="denied"\} 1/,
    );
    expect(metrics).to.match(
      /aibrix_webhook_admission_requests_total\{webhook="validate",outcome="bad_request"\} [1-9]/,
    );
    expect(metrics).to.match(
      /aibrix_webhook_admission_duration_seconds_bucket\{le="0.003",webhook="mutate-v1-pod",outcome="patched"\}/,
    );
    expect(metrics).to.match(/aibrix_webhook_certificate_expiry_timestamp_seconds \d+/);
  });
});
