// The ModelAdapter controller and the runtime sidecar against real vLLM engines. Pods of a Deployment annotated for
// the sidecar run on the loopback control plane; our admission webhooks inject the runtime container, and the
// engine-pod launcher runs, on each pod's IP, vLLM's CPU build serving the tiny model in place of the engine
// container and our runtime in place of the injected one. The controller, as the chart's ServiceAccount, loads LoRA
// adapters through the sidecar — one from a local path, one from s3:// on a real S3-compatible server (moto) with
// credentials from a Secret — the router routes each adapter's requests to the engine holding it, and deleting a
// ModelAdapter unloads it from the engine.
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { expect } from "chai";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Model } from "../../api/labels.js";
import type { LoopbackCluster } from "../../cluster/index.js";
import { startEnginePods, type EnginePods, type EngineTarget } from "../../cluster/engine-pods.js";
import { KubernetesDiscovery } from "../../router/discovery/kubernetes.js";
import { startRouter, type Router } from "../../router/server.js";
import { startRuntime } from "../../runtime/index.js";
import { startMoto, type Moto } from "../support/artifact-servers.js";
import { SYSTEM_NAMESPACE, startControllersCluster } from "../support/controllers-cluster.js";
import { loraDeployment, startControllersProcess, type ControllersProcess } from "../support/controllers-process.js";
import { realEngineSetup, startRealEngine, type RealEngineSetup } from "../support/real-vllm.js";
import { waitFor } from "./env.js";

const NS = "serving";
const MODEL = "tiny";
const RUNTIME_CONTAINER = "aibrix-runtime";
/** Python imports and model load on a busy two-core machine. */
const ENGINE_START_MS = 480_000;

type Adapter = { status?: { phase?: string; instances?: string[]; conditions?: unknown[] } };
type Pod = {
  metadata: { name: string };
  spec: { containers: { name: string; ports?: { containerPort: number }[] }[] };
  status: { podIP: string };
};

async function modelsOf(url: string): Promise<string[]> {
  const res = await fetch(`${url}/v1/models`, { signal: AbortSignal.timeout(5_000) });
  return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
}

/** The tiny model's adapter, uploaded file by file under s3://adapters/<prefix>/. */
async function uploadAdapter(moto: Moto, dir: string, prefix: string): Promise<void> {
  const s3 = new S3Client({
    endpoint: moto.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await s3.send(new CreateBucketCommand({ Bucket: "adapters" }));
  for (const file of readdirSync(dir)) {
    await s3.send(
      new PutObjectCommand({ Bucket: "adapters", Key: `${prefix}/${file}`, Body: readFileSync(path.join(dir, file)) }),
    );
  }
  s3.destroy();
}

describe("ModelAdapter controller and runtime sidecar with real vLLM engines", function () {
  this.timeout(ENGINE_START_MS + 240_000);
  let cluster: LoopbackCluster;
  let stopCluster: (() => Promise<void>) | undefined;
  let setup: RealEngineSetup;
  let engines: EnginePods;
  let moto: Moto;
  let router: Router | undefined;
  let controllers: ControllersProcess | undefined;
  const scratch = mkdtempSync(path.join(tmpdir(), "aibrix-ts-adapters-"));
  const adapterPath = `/apis/model.aibrix.ai/v1alpha1/namespaces/${NS}/modeladapters`;
  /** Engine URL by pod IP. */
  const engineUrls = new Map<string, string>();
  const pods = async () => (await cluster.api.get<{ items: Pod[] }>(`/api/v1/namespaces/${NS}/pods`)).items;

  /** vLLM in place of the engine container and, where the webhook injected it, our runtime beside it. */
  async function startPodEngines(t: EngineTarget, core: number) {
    const engine = await startRealEngine(setup, t.settings.model, core, {
      host: t.host,
      port: t.port,
      readyTimeoutMs: ENGINE_START_MS,
    });
    const sidecar = t.pod.spec?.containers?.find((c) => c.name === RUNTIME_CONTAINER);
    if (!sidecar) return engine;
    const runtime = await startRuntime({
      host: t.host,
      port: sidecar.ports?.[0]?.containerPort ?? 8080,
      // In a pod the runtime reaches the engine on localhost; here the pod's IP is the pod.
      engineEndpoint: `http://${t.host}:${t.port}`,
      adapterDir: mkdtempSync(path.join(scratch, "pod-")),
    });
    return {
      close: async () => {
        await runtime.close();
        await engine.close();
      },
    };
  }

  async function createAdapter(name: string, artifactURL: string, extra: Record<string, unknown> = {}) {
    await cluster.api.create(adapterPath, {
      apiVersion: "model.aibrix.ai/v1alpha1",
      kind: "ModelAdapter",
      metadata: { name, namespace: NS },
      spec: { baseModel: MODEL, podSelector: { matchLabels: { app: "llama" } }, artifactURL, replicas: 1, ...extra },
    });
    let last: Adapter | undefined;
    return await waitFor(`${name} Running`, 180_000, async () => {
      last = await cluster.api.get<Adapter>(`${adapterPath}/${name}`);
      return last.status?.phase === "Running" && last.status.instances?.length === 1 ? last : undefined;
    }).catch((err: Error) => {
      throw new Error(
        `${err.message}; last status ${JSON.stringify(last?.status)}; controllers said: ${controllers?.stderr()}`,
      );
    });
  }

  /** Pod IPs whose engine's own /v1/models lists `name`. */
  async function holders(name: string): Promise<string[]> {
    const found: string[] = [];
    for (const [ip, url] of engineUrls) if ((await modelsOf(url)).includes(name)) found.push(ip);
    return found;
  }

  async function routedTo(name: string): Promise<string> {
    router ??= await startRouter({
      host: "127.0.0.1",
      port: 0,
      discovery: new KubernetesDiscovery({ kubeconfig: cluster.kubeconfig, namespace: NS }),
      logLevel: "error",
    });
    const res = await waitFor(`a 200 for model ${name}`, 60_000, async () => {
      const r = await fetch(`${router!.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: name, prompt: "adapter prompt", max_tokens: 3 }),
      });
      return r.status === 200 ? r : undefined;
    });
    expect(((await res.json()) as { model: string }).model).to.equal(name);
    return res.headers.get("target-pod") ?? "";
  }

  before(async function () {
    setup = realEngineSetup();
    moto = await startMoto();
    let kubeconfig: string;
    ({
      cluster,
      kubeconfig,
      stop: stopCluster,
    } = await startControllersCluster({
      namespaces: [NS],
      nodes: [{ name: "gpu-a100", count: 1, gpusPerNode: 8, product: "NVIDIA-A100-SXM4-80GB" }],
      webhooks: true,
    }));
    let core = 0;
    engines = await startEnginePods({
      kubeconfig: cluster.kubeconfig,
      namespace: NS,
      // One core per engine, as the real-engine tier does, so the two do not fight over core 0.
      startEngine: (t) => startPodEngines(t, core++ % 2),
    });
    const deployment = loraDeployment(MODEL, 2, 2);
    deployment.spec.template.metadata = {
      ...deployment.spec.template.metadata,
      annotations: { [Model.sidecarInjection]: "true" },
    } as typeof deployment.spec.template.metadata;
    await cluster.api.create(`/apis/apps/v1/namespaces/${NS}/deployments`, deployment);
    for (const e of await engines.waitForEngines(2, { timeoutMs: ENGINE_START_MS + 30_000 })) {
      engineUrls.set(e.ip, e.url);
    }
    controllers = await startControllersProcess(kubeconfig, [
      ...["--leader-elect-namespace", SYSTEM_NAMESPACE, "--log-level", "info"],
    ]);
  });

  after(async function () {
    this.timeout(60_000);
    controllers?.child.kill("SIGKILL");
    await router?.close();
    await engines?.stop();
    await stopCluster?.();
    await moto?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("injects the runtime container first in each pod, and the runtime serves /ready beside the engine", async () => {
    for (const pod of await pods()) {
      const names = pod.spec.containers.map((c) => c.name);
      expect(names[0], pod.metadata.name).to.equal(RUNTIME_CONTAINER);
      expect(names).to.include("vllm-openai");
      const port = pod.spec.containers[0]!.ports?.[0]?.containerPort ?? 8080;
      const ready = await fetch(`http://${pod.status.podIP}:${port}/ready`);
      expect(ready.status, `${pod.metadata.name} runtime /ready`).to.equal(200);
    }
  });

  it("loads an adapter from a local path on one real engine through the sidecar and routes its requests there", async () => {
    const adapter = await createAdapter("tiny-lora", setup.adapter);
    const held = await holders("tiny-lora");
    expect(held, "engines whose own /v1/models lists the adapter").to.have.length(1);
    const holderPod = (await pods()).find((p) => p.status.podIP === held[0])!;
    expect(adapter.status?.instances).to.deep.equal([holderPod.metadata.name]);
    expect(await routedTo("tiny-lora")).to.equal(`${held[0]}:8000`);
  });

  it("downloads an s3:// adapter through the sidecar from the S3 server, with the Secret's credentials, and loads it", async () => {
    await uploadAdapter(moto, setup.adapter, "loras/tiny-lora-s3");
    await cluster.api.create(`/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: "adapter-store" },
      stringData: {
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
        AWS_REGION: "us-east-1",
        AWS_ENDPOINT_URL: moto.endpoint,
      },
    });
    await createAdapter("tiny-lora-s3", "s3://adapters/loras/tiny-lora-s3", {
      credentialsSecretRef: { name: "adapter-store" },
    });
    const held = await holders("tiny-lora-s3");
    expect(held).to.have.length(1);
    expect(await routedTo("tiny-lora-s3")).to.equal(`${held[0]}:8000`);
  });

  it("unloads adapters from the engines when their ModelAdapters are deleted", async () => {
    for (const name of ["tiny-lora", "tiny-lora-s3"]) await cluster.api.delete(`${adapterPath}/${name}`);
    await waitFor("adapters gone from every engine", 60_000, async () =>
      (await holders("tiny-lora")).length + (await holders("tiny-lora-s3")).length === 0 ? true : undefined,
    );
  });
});
