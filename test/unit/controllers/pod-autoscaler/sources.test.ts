import { expect } from "chai";
import { createServer, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { CertificateAuthority } from "../../../../cluster/certs.js";
import type { AddressInfo } from "node:net";
import { engineMetricValue } from "../../../../controllers/pod-autoscaler/sources/engine-metric.js";
import { externalValue } from "../../../../controllers/pod-autoscaler/sources/external-endpoint.js";
import { MetricSources } from "../../../../controllers/pod-autoscaler/sources/index.js";
import { parseQuantity } from "../../../../controllers/pod-autoscaler/sources/quantity.js";
import type { Pod } from "../../../../controllers/pod-autoscaler/pods.js";

const VLLM = [
  "# TYPE vllm:num_requests_waiting gauge",
  'vllm:num_requests_waiting{model_name="m"} 7',
  'vllm:kv_cache_usage_perc{model_name="m"} 0.4',
].join("\n");
const SGLANG = [
  'sglang:num_queue_reqs{model_name="m",tp_rank="0"} 3',
  'sglang:num_queue_reqs{tp_rank="1"} 2',
  "sglang:token_usage 0.7",
].join("\n");

function pod(name: string, port: number, engine = "vllm"): Pod {
  return {
    metadata: { name, labels: { "model.aibrix.ai/engine": engine } },
    status: { phase: "Running", podIP: "127.0.0.1", conditions: [{ type: "Ready", status: "True" }] },
    spec: { containers: [{ name: "engine", ports: [{ containerPort: port }] }] },
  };
}

describe("pod-autoscaler metric sources", () => {
  it("reads a vLLM name from an SGLang engine (and the reverse) through the engines/ name maps", () => {
    expect(engineMetricValue(VLLM, "vllm:num_requests_waiting", "vllm")).to.equal(7);
    expect(engineMetricValue(SGLANG, "vllm:num_requests_waiting", "sglang")).to.equal(5);
    expect(engineMetricValue(SGLANG, "sglang:num_queue_reqs", "sglang")).to.equal(5);
    expect(engineMetricValue(VLLM, "sglang:num_queue_reqs", "vllm")).to.equal(7);
    expect(engineMetricValue(VLLM, "gpu_cache_usage_perc", "vllm")).to.equal(0.4);
    expect(engineMetricValue(SGLANG, "vllm:gpu_cache_usage_perc", "sglang")).to.equal(0.7);
    expect(engineMetricValue(VLLM, "aibrix:queue_size", "vllm")).to.equal(7);
  });

  it("gives no value (not 0) for a metric the exposition does not carry", () => {
    expect(engineMetricValue(VLLM, "vllm:num_requests_running", "vllm")).to.equal(undefined);
    expect(engineMetricValue(VLLM, "my_app_queue", "vllm")).to.equal(undefined);
  });

  it("reads an external endpoint's Prometheus text or JSON", () => {
    const prom = 'vllm:deployment_replicas{deployment="llama"} 3\nother 9\n';
    expect(externalValue(prom, "vllm:deployment_replicas")).to.equal(3);
    expect(externalValue("4", "vllm:deployment_replicas")).to.equal(4);
    expect(externalValue('{"vllm:deployment_replicas": 5}', "vllm:deployment_replicas")).to.equal(5);
    expect(externalValue('{"value": "6"}', "x")).to.equal(6);
    expect(externalValue("nothing here 1", "vllm:deployment_replicas")).to.equal(undefined);
  });

  it("parses Kubernetes quantities and refuses malformed ones", () => {
    expect(parseQuantity("250m")).to.equal(0.25);
    expect(parseQuantity("128Mi")).to.equal(128 * 2 ** 20);
    expect(parseQuantity("2G")).to.equal(2e9);
    expect(parseQuantity("1e3")).to.equal(1000);
    expect(parseQuantity("12q")).to.equal(undefined);
    expect(parseQuantity("")).to.equal(undefined);
  });

  describe("over HTTP", () => {
    let server: Server;
    let port: number;
    let hang = false;
    before(async () => {
      server = createServer((req, res) => {
        if (hang) return; // never answers
        if (req.url === "/metrics") res.end(VLLM);
        else if (req.url === "/sglang") res.end(SGLANG);
        else if (req.url === "/optimizer/ns/llama") res.end("vllm:deployment_replicas 3\n");
        else res.writeHead(500).end("broken");
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as AddressInfo).port;
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    const sources = () =>
      new MetricSources({ get: () => Promise.reject(new Error("no API")) }, { timeoutMs: 300, maxBytes: 1 << 20 });

    it("scrapes each pod; a pod that fails is missing for the tick", async () => {
      const reading = await sources().read(
        {
          metricSourceType: "pod",
          protocolType: "http",
          port: String(port),
          path: "/metrics",
          targetMetric: "vllm:num_requests_waiting",
          targetValue: "1",
        },
        {
          namespace: "ns",
          selector: "app=x",
          pods: [pod("a", port), { ...pod("b", port), status: { phase: "Running" } }],
        },
      );
      expect(reading.kind).to.equal("pods");
      if (reading.kind !== "pods") return;
      expect(reading.values.get("a")).to.equal(7);
      expect(reading.values.has("b")).to.equal(true);
      expect(reading.values.get("b")).to.equal(undefined);
    });

    it("gives up on an engine that does not answer within the deadline", async () => {
      hang = true;
      const started = Date.now();
      try {
        const reading = await sources().read(
          {
            metricSourceType: "pod",
            protocolType: "http",
            port: String(port),
            path: "metrics",
            targetMetric: "vllm:num_requests_waiting",
            targetValue: "1",
          },
          { namespace: "ns", selector: "", pods: [pod("a", port)] },
        );
        expect(reading.kind === "pods" && reading.values.get("a")).to.equal(undefined);
        expect(Date.now() - started).to.be.lessThan(2_000);
      } finally {
        hang = false;
      }
    });

    it("reads one cluster-wide value from an external endpoint", async () => {
      const reading = await sources().read(
        {
          metricSourceType: "domain",
          protocolType: "http",
          endpoint: `127.0.0.1:${port}`,
          path: "/optimizer/ns/llama",
          targetMetric: "vllm:deployment_replicas",
          targetValue: "1",
        },
        { namespace: "ns", selector: "", pods: [] },
      );
      expect(reading).to.deep.equal({ kind: "total", value: 3 });
      const broken = await sources().read(
        {
          metricSourceType: "external",
          protocolType: "http",
          endpoint: `127.0.0.1:${port}`,
          path: "/nope",
          targetMetric: "x",
          targetValue: "1",
        },
        { namespace: "ns", selector: "", pods: [] },
      );
      expect(broken).to.deep.equal({ kind: "total", value: undefined });
    });
  });

  it("scrapes pods over https (pods have no verifiable name); verifies an external endpoint's certificate", async () => {
    const ca = CertificateAuthority.create("pod-autoscaler-test-ca", 1);
    const leaf = ca.serving({ commonName: "engine", ips: ["127.0.0.1"] });
    const server = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end(VLLM));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const s = new MetricSources({ get: () => Promise.reject(new Error("no API")) });
      const metric = { targetMetric: "vllm:num_requests_waiting", targetValue: "1", protocolType: "https" as const };
      const pods = await s.read(
        { ...metric, metricSourceType: "pod", port: String(port), path: "/metrics" },
        { namespace: "ns", selector: "", pods: [pod("a", port)] },
      );
      expect(pods.kind === "pods" && pods.values.get("a")).to.equal(7);
      const external = await s.read(
        { ...metric, metricSourceType: "external", endpoint: `127.0.0.1:${port}`, path: "/metrics" },
        { namespace: "ns", selector: "", pods: [] },
      );
      expect(external, "a certificate from an unknown authority is refused").to.deep.equal({
        kind: "total",
        value: undefined,
      });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("reads metrics.k8s.io in millicores per pod, and custom and external metrics APIs", async () => {
    const paths: string[] = [];
    const api = {
      get: async <T>(path: string): Promise<T> => {
        paths.push(path);
        if (path.startsWith("/apis/metrics.k8s.io"))
          return {
            items: [
              {
                metadata: { name: "a" },
                containers: [{ usage: { cpu: "250m", memory: "1Gi" } }, { usage: { cpu: "1" } }],
              },
            ],
          } as T;
        if (path.startsWith("/apis/custom.metrics.k8s.io"))
          return { items: [{ describedObject: { name: "a" }, value: "1500m" }] } as T;
        return { items: [{ value: "2" }, { value: "3" }] } as T;
      },
    };
    const s = new MetricSources(api);
    const ctx = { namespace: "ns", selector: "app=x", pods: [pod("a", 1), pod("b", 1)] };
    const cpu = await s.read({ metricSourceType: "resource", targetMetric: "cpu", targetValue: "500" }, ctx);
    expect(cpu.kind === "pods" && [...cpu.values]).to.deep.equal([
      ["a", 1250],
      ["b", undefined],
    ]);
    const custom = await s.read({ metricSourceType: "custom", targetMetric: "queue", targetValue: "1" }, ctx);
    expect(custom.kind === "pods" && custom.values.get("a")).to.equal(1.5);
    const external = await s.read({ metricSourceType: "external", targetMetric: "backlog", targetValue: "1" }, ctx);
    expect(external).to.deep.equal({ kind: "total", value: 5 });
    expect(paths).to.deep.equal([
      "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods?labelSelector=app%3Dx",
      "/apis/custom.metrics.k8s.io/v1beta1/namespaces/ns/pods/*/queue?labelSelector=app%3Dx",
      "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/backlog",
    ]);
  });
});
