import { expect } from "chai";
import { StaticClusterLookup } from "../../../webhooks/cluster.js";
import { applied, call, deps, modelPod, patchOf, review, type Json } from "./fixtures.js";

type Container = Json & { name: string; env?: { name: string; value: string }[]; volumeMounts?: Json[] };

const runtimeOf = (pod: Json): Container => containers(pod).find((c) => c.name === "aibrix-runtime")!;
const engineOf = (pod: Json): Container => containers(pod).find((c) => c.name !== "aibrix-runtime")!;

function containers(pod: Json, at = "spec"): Container[] {
  let cur: unknown = pod;
  for (const k of at.split(".")) cur = (cur as Json)[k];
  return (cur as Json).containers as Container[];
}

/** Mutates, applies the patch, mutates the result again and checks that the second pass changes nothing. */
async function mutateTwice(obj: Json, d = deps(), opts: Parameters<typeof review>[1] = {}) {
  const first = await call(d, "mutate", review(obj, opts));
  expect(first.allowed).to.equal(true);
  const ops = patchOf(first);
  const out = applied(obj, ops);
  const second = await call(d, "mutate", review(out, opts));
  expect(patchOf(second), "second pass must be a no-op").to.deep.equal([]);
  return { ops, out, warnings: first.warnings ?? [] };
}

describe("webhooks: sidecar injection", () => {
  it("adds the runtime sidecar with image, port, engine env, probes and resources from configuration", async () => {
    const { out, ops } = await mutateTwice(modelPod());
    expect(ops.every((o) => o.op === "add" || o.path.endsWith("/schedulerName"))).to.equal(true);
    const sidecar = containers(out).find((c) => c.name === "aibrix-runtime") as Json;
    expect(sidecar.image).to.match(/^aibrix-ts\/aibrix-ts:/);
    expect(sidecar.ports).to.deep.equal([{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
    expect(sidecar.env).to.deep.equal([
      { name: "INFERENCE_ENGINE", value: "vllm" },
      { name: "INFERENCE_ENGINE_ENDPOINT", value: "http://localhost:8000" },
    ]);
    expect(sidecar.livenessProbe).to.deep.include({ initialDelaySeconds: 3, periodSeconds: 2 });
    expect((sidecar.readinessProbe as Json).httpGet).to.deep.equal({ path: "/ready", port: 8080, scheme: "HTTP" });
    expect(sidecar.resources).to.deep.equal({
      requests: { cpu: "100m", memory: "256Mi" },
      limits: { cpu: "500m", memory: "512Mi" },
    });
    expect((out.spec as Json).volumes).to.deep.equal([{ name: "adapter-storage", emptyDir: {} }]);
    for (const c of containers(out)) {
      expect(c.volumeMounts).to.deep.include({ name: "adapter-storage", mountPath: "/tmp/aibrix/adapters" });
    }
    // The runtime goes first, as AIBrix puts it; the engine follows.
    expect(containers(out).map((c) => c.name)).to.deep.equal(["aibrix-runtime", "vllm-openai"]);
    expect(sidecar.command).to.deep.equal(["aibrix-ts", "runtime", "--port", "8080"]);
  });

  it("takes image, port, env and probes from configuration", async () => {
    const d = deps(undefined, {
      sidecar: { image: "registry.local/runtime:1", port: 9090, env: [{ name: "LOG", value: "debug" }] },
    });
    const { out } = await mutateTwice(modelPod({ labels: { "model.aibrix.ai/port": "8001" } }), d);
    const sidecar = containers(out).find((c) => c.name === "aibrix-runtime") as Json;
    expect(sidecar.image).to.equal("registry.local/runtime:1");
    expect((sidecar.ports as Json[])[0]).to.include({ containerPort: 9090 });
    expect(sidecar.env).to.deep.include({ name: "INFERENCE_ENGINE_ENDPOINT", value: "http://localhost:8001" });
    expect(sidecar.env).to.deep.include({ name: "LOG", value: "debug" });
    expect((sidecar.livenessProbe as Json).httpGet).to.include({ port: 9090 });
  });

  it("honours the per-object image annotation, the engine label and engine inference from images", async () => {
    const a = await mutateTwice(modelPod({ annotations: { "model.aibrix.ai/sidecar-runtime-image": "my/runtime:2" } }));
    expect(containers(a.out).find((c) => c.name === "aibrix-runtime")).to.include({ image: "my/runtime:2" });
    const b = await mutateTwice(modelPod({ labels: { "model.aibrix.ai/engine": "sglang" } }));
    expect(runtimeOf(b.out).env).to.deep.include({ name: "INFERENCE_ENGINE", value: "sglang" });
    const pod = modelPod();
    containers(pod)[0]!.image = "lmsysorg/sglang:v0.4";
    const c = await mutateTwice(pod);
    expect(runtimeOf(c.out).env).to.deep.include({ name: "INFERENCE_ENGINE", value: "sglang" });
  });

  it("warns about a model.aibrix.ai/port label that is not a port and falls back to 8000", async () => {
    const { out, warnings } = await mutateTwice(modelPod({ labels: { "model.aibrix.ai/port": "http" } }));
    expect(warnings.join()).to.match(/model.aibrix.ai\/port="http".*1\.\.65535/);
    expect(runtimeOf(out).env).to.deep.include({
      name: "INFERENCE_ENGINE_ENDPOINT",
      value: "http://localhost:8000",
    });
  });

  it("injects on the injection annotation alone, as AIBrix does, and not without it or when the sidecar exists", async () => {
    const { out: unlabelled } = await mutateTwice({
      ...modelPod(),
      metadata: { name: "x", annotations: { "model.aibrix.ai/sidecar-injection": "true" } },
    });
    expect(containers(unlabelled).map((c) => c.name)).to.deep.equal(["aibrix-runtime", "vllm-openai"]);
    const { out: off } = await mutateTwice(modelPod({ annotations: { "model.aibrix.ai/sidecar-injection": "false" } }));
    expect(containers(off).map((c) => c.name)).to.not.include("aibrix-runtime");
    const existing = modelPod();
    containers(existing).push({ name: "aibrix-runtime", image: "mine" });
    const { out } = await mutateTwice(existing);
    expect(containers(out).filter((c) => c.name === "aibrix-runtime")).to.have.length(1);
    expect(containers(out).find((c) => c.name === "aibrix-runtime")).to.include({ image: "mine" });
  });

  it("never duplicates volumes, mounts or env that are already there", async () => {
    const pod = modelPod({
      spec: {
        volumes: [{ name: "adapter-storage", emptyDir: { medium: "Memory" } }],
        containers: [
          { name: "engine", image: "vllm", volumeMounts: [{ name: "cache", mountPath: "/tmp/aibrix/adapters" }] },
        ],
      },
    });
    const { out } = await mutateTwice(pod);
    expect((out.spec as Json).volumes).to.deep.equal([{ name: "adapter-storage", emptyDir: { medium: "Memory" } }]);
    expect(containers(out)[0]?.volumeMounts).to.have.length(1);
  });

  it("mutates Pods on CREATE only, and skips mirror pods and subresources", async () => {
    const update = await call(deps(), "mutate", review(modelPod(), { operation: "UPDATE", oldObject: modelPod() }));
    expect(patchOf(update)).to.deep.equal([]);
    const mirror = await call(
      deps(),
      "mutate",
      review(modelPod({ annotations: { "kubernetes.io/config.mirror": "x" } })),
    );
    expect(patchOf(mirror)).to.deep.equal([]);
    const sub = review(modelPod());
    (sub.request as Json).subResource = "ephemeralcontainers";
    expect(patchOf(await call(deps(), "mutate", sub))).to.deep.equal([]);
  });

  it("leaves malformed pod specs alone (the API server reports them), without crashing", async () => {
    for (const spec of [{ containers: "x" }, { containers: [null, 3, { name: 1 }] }, null, "spec"]) {
      const pod = { ...modelPod(), spec };
      const res = await call(deps(), "mutate", review(pod));
      expect(res.allowed).to.equal(true);
      if (res.patch) applied(pod, patchOf(res)); // whatever it emits must apply cleanly
    }
  });
});

describe("webhooks: GPU scheduler profile", () => {
  const gpuScheduler = () => deps(undefined, { gpuSchedulerName: "aibrix-gpu-scheduler" });

  it("switches no scheduler unless the GPU scheduler is configured (deployed)", async () => {
    const r = await mutateTwice(modelPod());
    expect((r.out.spec as Json).schedulerName).to.equal("default-scheduler");
    expect(r.ops.some((o) => o.path.endsWith("/schedulerName"))).to.equal(false);
  });

  it("sets schedulerName on model pods that request GPUs and name no scheduler", async () => {
    const defaulted = await mutateTwice(modelPod(), gpuScheduler());
    expect((defaulted.out.spec as Json).schedulerName).to.equal("aibrix-gpu-scheduler");
    const unset = modelPod();
    delete (unset.spec as Json).schedulerName;
    const r = await mutateTwice(unset, gpuScheduler());
    expect((r.out.spec as Json).schedulerName).to.equal("aibrix-gpu-scheduler");
    expect(r.ops).to.deep.include({ op: "add", path: "/spec/schedulerName", value: "aibrix-gpu-scheduler" });
  });

  it("keeps an explicit scheduler, and ignores pods without GPUs, with 0 GPUs, or not of a model", async () => {
    const custom = modelPod({ spec: { schedulerName: "volcano" } });
    containers(custom).push(...containers(modelPod()));
    expect(((await mutateTwice(custom, gpuScheduler())).out.spec as Json).schedulerName).to.equal("volcano");
    const cpu = modelPod({ spec: { schedulerName: "default-scheduler", containers: [{ name: "e", image: "vllm" }] } });
    expect(((await mutateTwice(cpu, gpuScheduler())).out.spec as Json).schedulerName).to.equal("default-scheduler");
    const zero = modelPod({
      spec: { containers: [{ name: "e", image: "vllm", resources: { limits: { "nvidia.com/gpu": "0" } } }] },
    });
    expect(((await mutateTwice(zero, gpuScheduler())).out.spec as Json).schedulerName).to.equal("default-scheduler");
    const noModel = modelPod();
    (noModel.metadata as Json).labels = {};
    expect(((await mutateTwice(noModel, gpuScheduler())).out.spec as Json).schedulerName).to.equal("default-scheduler");
  });

  it("counts configured resource names and init containers", async () => {
    const amd = modelPod({
      spec: {
        initContainers: [{ name: "warm", image: "x", resources: { requests: { "amd.com/gpu": 1 } } }],
        containers: [{ name: "e", image: "x" }],
      },
    });
    const d = deps(undefined, { gpuResourceNames: ["amd.com/gpu"], gpuSchedulerName: "gpu-profile" });
    expect(((await mutateTwice(amd, d)).out.spec as Json).schedulerName).to.equal("gpu-profile");
    expect(((await mutateTwice(amd)).out.spec as Json).schedulerName).to.equal("default-scheduler");
  });
});

describe("webhooks: Deployment and RayClusterFleet templates", () => {
  const deployment = (): Json => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "llama",
      labels: { "model.aibrix.ai/name": "llama" },
      annotations: { "model.aibrix.ai/sidecar-injection": "true" },
    },
    spec: {
      selector: { matchLabels: { app: "llama" } },
      template: {
        metadata: { labels: { app: "llama", "model.aibrix.ai/name": "llama" } },
        spec: modelPod().spec,
      },
    },
  });

  it("injects into a Deployment's pod template on CREATE and UPDATE, idempotently", async () => {
    for (const operation of ["CREATE", "UPDATE"]) {
      const { out, ops } = await mutateTwice(
        deployment(),
        deps(undefined, { gpuSchedulerName: "aibrix-gpu-scheduler" }),
        {
          operation,
          oldObject: operation === "UPDATE" ? deployment() : undefined,
        },
      );
      expect(ops.every((o) => o.path.startsWith("/spec/template/spec/"))).to.equal(true);
      const spec = ((out.spec as Json).template as Json).spec as Json;
      expect((spec.containers as Container[]).map((c) => c.name)).to.deep.equal(["aibrix-runtime", "vllm-openai"]);
      expect(spec.schedulerName).to.equal("aibrix-gpu-scheduler");
    }
  });

  it("a template annotation can opt out of what its Deployment asks", async () => {
    const d = deployment();
    (((d.spec as Json).template as Json).metadata as Json).annotations = {
      "model.aibrix.ai/sidecar-injection": "false",
    };
    const { out } = await mutateTwice(d);
    const names = (((out.spec as Json).template as Json).spec as Json).containers as Container[];
    expect(names.map((c) => c.name)).to.deep.equal(["vllm-openai"]);
  });

  it("puts the sidecar on the Ray head only; every GPU group gets the scheduler", async () => {
    const group = (gpu: boolean) => ({
      template: {
        spec: {
          containers: [
            { name: "ray", image: "vllm/vllm-openai", resources: gpu ? { limits: { "nvidia.com/gpu": 1 } } : {} },
          ],
        },
      },
    });
    const fleet: Json = {
      apiVersion: "orchestration.aibrix.ai/v1alpha1",
      kind: "RayClusterFleet",
      metadata: {
        name: "f",
        labels: { "model.aibrix.ai/name": "m" },
        annotations: { "model.aibrix.ai/sidecar-injection": "true" },
      },
      spec: {
        selector: { matchLabels: { "model.aibrix.ai/name": "m" } },
        template: {
          metadata: { labels: { "model.aibrix.ai/name": "m" } },
          spec: {
            headGroupSpec: group(true),
            workerGroupSpecs: [
              { groupName: "w", ...group(true) },
              { groupName: "cpu", ...group(false) },
            ],
          },
        },
      },
    };
    const { out } = await mutateTwice(fleet, deps(undefined, { gpuSchedulerName: "aibrix-gpu-scheduler" }));
    const ray = ((out.spec as Json).template as Json).spec as Json;
    const head = ((ray.headGroupSpec as Json).template as Json).spec as Json;
    const workers = (ray.workerGroupSpecs as Json[]).map((w) => (w.template as Json).spec as Json);
    expect((head.containers as Container[]).map((c) => c.name)).to.deep.equal(["aibrix-runtime", "ray"]);
    expect(head.schedulerName).to.equal("aibrix-gpu-scheduler");
    expect((workers[0]!.containers as Container[]).map((c) => c.name)).to.deep.equal(["ray"]);
    expect(workers[0]!.schedulerName).to.equal("aibrix-gpu-scheduler");
    expect(workers[1]!.schedulerName).to.equal(undefined);
  });

  it("allows kinds it does not mutate untouched, with a warning", async () => {
    const res = await call(deps(), "mutate", review({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } }));
    expect(res.allowed).to.equal(true);
    expect(res.patch).to.equal(undefined);
    expect(res.warnings?.[0]).to.match(/ConfigMap is not mutated by this webhook/);
  });
});

describe("webhooks: KVCache connection env", () => {
  function cache(backend: string, ready: number, extra: Json = {}): Json {
    return {
      apiVersion: "orchestration.aibrix.ai/v1alpha1",
      kind: "KVCache",
      metadata: {
        name: "kvc",
        namespace: "default",
        annotations: { "kvcache.orchestration.aibrix.ai/backend": backend },
      },
      spec: { service: { ports: [{ port: 12345 }] }, ...extra },
      status: { current: ready },
    };
  }
  const consumer = () => modelPod({ labels: { "kvcache.orchestration.aibrix.ai/kvcache-name": "kvc" } });

  function lookupWith(kv: Json): StaticClusterLookup {
    const l = new StaticClusterLookup();
    l.kvCaches.set("default/kvc", kv);
    return l;
  }

  it("adds infinistore env pointing at the cache's Redis, to engine containers only", async () => {
    const { out, warnings } = await mutateTwice(consumer(), deps(lookupWith(cache("infinistore", 3))));
    const engine = engineOf(out);
    expect(engine.env).to.deep.include({ name: "AIBRIX_KV_CACHE_OL_L2_CACHE_BACKEND", value: "infinistore" });
    expect(engine.env).to.deep.include({
      name: "AIBRIX_KV_CACHE_OL_META_SERVICE_URL",
      value: "redis://kvc-redis.default.svc:6379",
    });
    expect(engine.env).to.deep.include({
      name: "AIBRIX_KV_CACHE_OL_META_SERVICE_CLUSTER_META_KEY",
      value: "kvcache_nodes",
    });
    const sidecar = containers(out).find((c) => c.name === "aibrix-runtime")!;
    expect(sidecar.env?.map((e) => e.name)).to.not.include("AIBRIX_KV_CACHE_OL_META_SERVICE_URL");
    expect(warnings).to.deep.equal([]);
  });

  it("uses an external Redis, hpkv's metadata key and vineyard's RPC endpoint", async () => {
    const hpkv = cache("hpkv", 1, { metadata: { redis: { externalConnection: { address: "redis.ext:6380" } } } });
    const a = await mutateTwice(consumer(), deps(lookupWith(hpkv)));
    expect(engineOf(a.out).env).to.deep.include({
      name: "AIBRIX_KV_CACHE_OL_META_SERVICE_URL",
      value: "redis://redis.ext:6380",
    });
    expect(engineOf(a.out).env).to.deep.include({
      name: "AIBRIX_KV_CACHE_OL_META_SERVICE_CLUSTER_META_KEY",
      value: "hpkv_cluster_metadata",
    });
    const b = await mutateTwice(consumer(), deps(lookupWith(cache("vineyard", 1))));
    expect(engineOf(b.out).env).to.deep.include({
      name: "AIBRIX_LLM_KV_CACHE_RPC_ENDPOINT",
      value: "kvc-rpc.default.svc:9600",
    });
  });

  it("never overrides env the user set, and warns when the cache has no ready replicas", async () => {
    const pod = consumer();
    containers(pod)[0]!.env = [{ name: "AIBRIX_KV_CACHE_OL_META_SERVICE_URL", value: "redis://mine:1" }];
    const { out, warnings } = await mutateTwice(pod, deps(lookupWith(cache("infinistore", 0))));
    const env = engineOf(out).env!;
    expect(env.filter((e) => e.name === "AIBRIX_KV_CACHE_OL_META_SERVICE_URL")).to.deep.equal([
      { name: "AIBRIX_KV_CACHE_OL_META_SERVICE_URL", value: "redis://mine:1" },
    ]);
    expect(warnings.join()).to.match(/no ready cache replicas/);
  });

  it("warns and adds nothing when the KVCache is missing or the lookup fails", async () => {
    const missing = await mutateTwice(consumer(), deps(new StaticClusterLookup()));
    expect(missing.warnings.join()).to.match(/KVCache default\/kvc not found/);
    expect(engineOf(missing.out).env).to.equal(undefined);
    const broken = new StaticClusterLookup();
    broken.getKVCache = async () => {
      throw new Error("connection refused");
    };
    const failed = await mutateTwice(consumer(), deps(broken));
    expect(failed.warnings.join()).to.match(/lookup failed \(connection refused\)/);
  });
});
