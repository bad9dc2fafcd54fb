import { expect } from "chai";
import type { V1Pod } from "@kubernetes/client-node";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { adaptersByPod, podToEndpoint, snapshotFrom } from "../../../router/discovery/kubernetes.js";
import { EndpointFileError, FileDiscovery, parseEndpointFile } from "../../../router/discovery/static.js";
import type { DiscoverySnapshot } from "../../../router/discovery/types.js";
import { parseRouterConfig, RouterConfigError } from "../../../router/config.js";

function pod(
  name: string,
  over: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ready?: boolean;
    ip?: string;
    deleting?: boolean;
  } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: "default",
      labels: { "model.aibrix.ai/name": "llama", ...over.labels },
      annotations: over.annotations,
      deletionTimestamp: over.deleting ? new Date() : undefined,
    },
    status: {
      phase: "Running",
      podIP: over.ip ?? "10.1.0.5",
      conditions: [{ type: "Ready", status: over.ready === false ? "False" : "True" }],
    },
  };
}

describe("Kubernetes discovery: pod → endpoint", () => {
  it("maps a ready pod with default port, engine and metrics port", () => {
    expect(podToEndpoint(pod("p1"))).to.deep.include({
      id: "10.1.0.5:8000",
      host: "10.1.0.5",
      port: 8000,
      model: "llama",
      engine: "vllm",
      metricsPort: undefined,
      podName: "p1",
    });
  });

  it("reads port, metric port, engine and KV-events labels", () => {
    const spec = podToEndpoint(
      pod("p2", {
        labels: {
          "model.aibrix.ai/port": "9000",
          "model.aibrix.ai/metric-port": "9100",
          "model.aibrix.ai/engine": "sglang",
          "model.aibrix.ai/kv-events-enabled": "true",
        },
      }),
    )!;
    expect(spec).to.deep.include({ id: "10.1.0.5:9000", port: 9000, metricsPort: 9100, engine: "sglang" });
    expect(spec.kvEvents).to.deep.equal({ endpoint: "tcp://10.1.0.5:5557", replayEndpoint: "tcp://10.1.0.5:5558" });
  });

  it("prefers the annotation for model names that cannot be label values", () => {
    expect(
      podToEndpoint(pod("p3", { annotations: { "model.aibrix.ai/name": "meta-llama/Llama-3-8B" } }))!.model,
    ).to.equal("meta-llama/Llama-3-8B");
  });

  it("skips pods that are not ready, terminating, without an IP, or Ray workers", () => {
    expect(podToEndpoint(pod("a", { ready: false }))).to.equal(undefined);
    expect(podToEndpoint(pod("b", { deleting: true }))).to.equal(undefined);
    expect(podToEndpoint(pod("c", { ip: "" }))).to.equal(undefined);
    expect(podToEndpoint(pod("d", { labels: { "ray.io/node-type": "worker" } }))).to.equal(undefined);
    expect(podToEndpoint(pod("e", { labels: { "ray.io/node-type": "head" } }))).to.not.equal(undefined);
  });

  it("adds adapters from ModelAdapter status.instances and remembers models with no ready pod", () => {
    const adapters = [
      { metadata: { name: "sql-lora", namespace: "default" }, status: { instances: ["p1", "p2"] } },
      { metadata: { name: "chat-lora", namespace: "other" }, status: { instances: ["p1"] } },
    ];
    expect(adaptersByPod(adapters).get("default/p1")).to.deep.equal(["sql-lora"]);
    const snap = snapshotFrom(
      [
        pod("p1"),
        pod("p2", { ip: "10.1.0.6" }),
        pod("p3", { ready: false, labels: { "model.aibrix.ai/name": "qwen" } }),
      ],
      adapters,
    );
    expect(snap.endpoints.map((e) => [e.id, e.adapters])).to.deep.equal([
      ["10.1.0.5:8000", ["sql-lora"]],
      ["10.1.0.6:8000", ["sql-lora"]],
    ]);
    expect(snap.models.sort()).to.deep.equal(["chat-lora", "llama", "qwen", "sql-lora"]);
  });
});

describe("static endpoints file", () => {
  it("parses entries and names the field, value and rule of a bad one", () => {
    const specs = parseEndpointFile(
      "endpoints:\n  - {model: a, url: 'http://127.0.0.1:8001', gpu: H100, adapters: [x]}\n  - {model: b, address: '127.0.0.1:8002', engine: sglang}\n",
    );
    expect(specs.map((s) => [s.id, s.model, s.engine, s.gpuType, s.adapters])).to.deep.equal([
      ["127.0.0.1:8001", "a", "vllm", "H100", ["x"]],
      ["127.0.0.1:8002", "b", "sglang", undefined, []],
    ]);
    expect(() => parseEndpointFile("endpoints:\n  - {url: 'http://h:1'}\n", "f.yaml")).to.throw(
      EndpointFileError,
      /f.yaml: endpoints\[0\].model: undefined must be a non-empty string/,
    );
    expect(() => parseEndpointFile("endpoints:\n  - {model: a, url: 'http://h:1', engine: tgi}\n")).to.throw(
      /endpoints\[0\]\.engine: "tgi" must be vllm or sglang/,
    );
    expect(() => parseEndpointFile("endpoints:\n  - {model: a, url: 'https://h:1'}\n")).to.throw(/must use http:\/\//);
    expect(() => parseEndpointFile("endpoints:\n  - {model: a, url: 'h:1'}\n  - {model: b, url: 'h:1'}\n")).to.throw(
      /listed twice/,
    );
    expect(() => parseEndpointFile("nope: 1\n")).to.throw(/"endpoints" must be a list/);
  });

  it("reloads when the file changes and keeps the last good list on a bad edit", async function () {
    this.timeout(8000);
    const dir = await mkdtemp(path.join(tmpdir(), "router-eps-"));
    const file = path.join(dir, "eps.yaml");
    await writeFile(file, "endpoints:\n  - {model: a, url: 'http://127.0.0.1:1'}\n");
    const seen: DiscoverySnapshot[] = [];
    const errors: Error[] = [];
    const d = new FileDiscovery(file, (e) => errors.push(e));
    await d.start((s) => seen.push(s));
    try {
      expect(seen[0]!.models).to.deep.equal(["a"]);
      await writeFile(file, "endpoints:\n  - {model: b, url: 'http://127.0.0.1:2'}\n");
      for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(seen.at(-1)!.models).to.deep.equal(["b"]);
      await writeFile(file, "endpoints: [{model: 7}]\n");
      for (let i = 0; i < 50 && errors.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
      expect(errors[0]!.message).to.match(/model: 7 must be a non-empty string/);
      expect(seen.at(-1)!.models).to.deep.equal(["b"]);
    } finally {
      await d.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("router configuration file", () => {
  it("reads settings and rejects unknown or ill-typed ones", () => {
    const c = parseRouterConfig(
      "defaultStrategy: 'prefix-cache:3,least-request:2'\nscrapeIntervalMs: 50\nidleScrapeIntervalMs: 2000\nretry: {maxRetries: 1}\n",
    );
    expect(c).to.deep.include({
      defaultStrategy: "prefix-cache:3,least-request:2",
      scrapeIntervalMs: 50,
      idleScrapeIntervalMs: 2000,
    });
    expect(c.retry).to.deep.equal({ maxRetries: 1 });
    expect(() => parseRouterConfig("scrapeInterval: 5\n", "r.yaml")).to.throw(
      RouterConfigError,
      /r.yaml: scrapeInterval: unknown setting/,
    );
    expect(() => parseRouterConfig("scrapeIntervalMs: -5\n")).to.throw(
      /scrapeIntervalMs: -5 must be a positive number/,
    );
    expect(() => parseRouterConfig("idleScrapeIntervalMs: soon\n")).to.throw(
      /idleScrapeIntervalMs: "soon" must be a positive number/,
    );
    expect(() => parseRouterConfig("timeouts: {firstByte: 5}\n")).to.throw(
      /timeouts.firstByte: unknown; known: connectMs/,
    );
    expect(() => parseRouterConfig("retry: {maxRetries: two}\n")).to.throw(/retry.maxRetries: "two" must be a number/);
    expect(parseRouterConfig("prefillCoalescing: {minBlocks: 64, maxWaitMs: 0}\n").prefillCoalescing).to.deep.equal({
      minBlocks: 64,
      maxWaitMs: 0,
    });
    expect(() => parseRouterConfig("prefillCoalescing: {waitMs: 5}\n")).to.throw(
      /prefillCoalescing.waitMs: unknown; known: minBlocks, maxWaitMs/,
    );
  });
});
