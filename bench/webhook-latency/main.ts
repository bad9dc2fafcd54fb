// Admission latency at a steady 500 requests/s, as the API server would see it: HTTPS keep-alive round trips from a
// separate load process, for pod mutation (sidecar + scheduler) and custom-resource validation, side by side with
// the bare HTTPS floor (GET /healthz on the same server) so the cost of the admission logic itself is visible.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import hdr from "hdr-histogram-js";
import { pino } from "pino";
import type { TopLevelSpec } from "vega-lite";
import { parseAllDocuments } from "yaml";
import { startWebhooks } from "../../webhooks/server.js";
import type { Benchmark, BenchResult } from "../lib/result.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const RATE = 500;
// Enough keep-alive connections that the client never queues behind a slow answer (the API server opens more as needed).
const CONNECTIONS = 8;

interface LoadResult {
  measured: number;
  errors: number;
  non2xx: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  senderLagP99Ms: number;
  perSecond: { second: number; count: number; meanMs: number; maxMs: number }[];
}

type Req = { method: "GET" | "POST"; path: string; body?: string };

function review(uid: number, object: Record<string, unknown>, operation = "CREATE"): string {
  const [group, version] = String(object.apiVersion).includes("/")
    ? String(object.apiVersion).split("/")
    : ["", String(object.apiVersion)];
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `00000000-0000-4000-8000-${String(uid).padStart(12, "0")}`,
      kind: { group, version, kind: object.kind },
      resource: { group, version, resource: "x" },
      operation,
      namespace: "default",
      name: (object.metadata as { name?: string }).name ?? "",
      object,
      oldObject: null,
      userInfo: {
        username: "system:serviceaccount:kube-system:replicaset-controller",
        groups: ["system:serviceaccounts"],
      },
      dryRun: false,
    },
  });
}

/** A pod as a ReplicaSet creates it from an engine Deployment (defaulted fields included, about 3 KB of JSON). */
function enginePod(i: number): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `llama-3-8b-7c9d8f-`,
      namespace: "default",
      labels: {
        "model.aibrix.ai/name": "llama-3-8b",
        "model.aibrix.ai/port": "8000",
        "pod-template-hash": "7c9d8f",
        app: "llama",
      },
      annotations: {
        "model.aibrix.ai/sidecar-injection": "true",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "llama-3-8b-7c9d8f",
          uid: "1b6c",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      schedulerName: "default-scheduler",
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccountName: "default",
      securityContext: {},
      containers: [
        {
          name: "vllm-openai",
          image: "vllm/vllm-openai:v0.8.5",
          command: ["python3", "-m", "vllm.entrypoints.openai.api_server"],
          args: [
            "--host",
            "0.0.0.0",
            "--port",
            "8000",
            "--model",
            "meta-llama/Meta-Llama-3-8B-Instruct",
            "--served-model-name",
            "llama-3-8b",
            "--enable-lora",
            `--seed=${i}`,
          ],
          ports: [{ containerPort: 8000, protocol: "TCP" }],
          env: [
            { name: "VLLM_ALLOW_RUNTIME_LORA_UPDATING", value: "True" },
            { name: "HF_HOME", value: "/models" },
          ],
          resources: {
            limits: { "nvidia.com/gpu": "1", cpu: "8", memory: "32Gi" },
            requests: { "nvidia.com/gpu": "1", cpu: "4", memory: "16Gi" },
          },
          volumeMounts: [
            { name: "models", mountPath: "/models" },
            { name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
          ],
          livenessProbe: {
            httpGet: { path: "/health", port: 8000, scheme: "HTTP" },
            periodSeconds: 10,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          readinessProbe: {
            httpGet: { path: "/health", port: 8000, scheme: "HTTP" },
            periodSeconds: 5,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          terminationMessagePath: "/dev/termination-log",
          terminationMessagePolicy: "File",
          imagePullPolicy: "IfNotPresent",
        },
      ],
      volumes: [
        { name: "models", hostPath: { path: "/mnt/models", type: "DirectoryOrCreate" } },
        {
          name: "kube-api-access",
          projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }] },
        },
      ],
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    },
  };
}

function crRequests(): Req[] {
  const dir = path.join(here, "..", "..", "test", "fixtures", "manifests", "valid");
  const docs: Record<string, unknown>[] = [];
  for (const file of ["model-adapters.yaml", "pod-autoscalers.yaml", "ray-cluster-fleet.yaml", "kvcaches.yaml"]) {
    for (const d of parseAllDocuments(readFileSync(path.join(dir, file), "utf8")))
      docs.push(d.toJSON() as Record<string, unknown>);
  }
  // One in four is invalid, so the denial path (problem formatting) is measured too.
  const invalid = docs.map((d) => {
    const copy = structuredClone(d) as { spec: Record<string, unknown> };
    copy.spec.replicas = -3;
    copy.spec.maxReplicas = 0;
    return copy as unknown as Record<string, unknown>;
  });
  const all = [...docs, ...docs, ...docs, ...invalid];
  return all.map((d, i) => ({ method: "POST", path: "/validate", body: review(i, d) }));
}

async function runLoad(args: Record<string, unknown>, dir: string, name: string): Promise<LoadResult> {
  const argsFile = path.join(dir, `${name}.json`);
  writeFileSync(argsFile, JSON.stringify(args));
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "load.ts"), argsFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`load generator for ${name} exited with ${code}`);
  return JSON.parse(out.trim()) as LoadResult;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

const bench: Benchmark = {
  async run(ctx) {
    const seconds = ctx.quick ? 6 : 20;
    const warmupSeconds = ctx.quick ? 1 : 3;
    const server = await startWebhooks({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }) });
    const dir = mkdtempSync(path.join(tmpdir(), "webhook-latency-"));
    const caFile = path.join(dir, "ca.pem");
    writeFileSync(caFile, server.caBundle);
    const scenarios: { name: string; requests: Req[] }[] = [
      { name: "https_floor", requests: [{ method: "GET", path: "/healthz" }] },
      {
        name: "pod_mutation",
        requests: Array.from({ length: 16 }, (_, i) => ({
          method: "POST",
          path: "/mutate-v1-pod",
          body: review(i, enginePod(i)),
        })),
      },
      { name: "cr_validation", requests: crRequests() },
    ];
    const results: Record<string, LoadResult> = {};
    const serverSide: Record<string, { p50: number; p99: number; count: number }> = {};
    // Server-side time (request arrival to response written), to tell the handler's cost from machine noise.
    let current = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    });
    server.server.on("request", (_req, res) => {
      const started = process.hrtime.bigint();
      const into = current;
      res.on("finish", () =>
        into.recordValue(Math.max(1, Math.round(Number(process.hrtime.bigint() - started) / 1000))),
      );
    });
    try {
      for (const s of scenarios) {
        current = hdr.build({
          lowestDiscernibleValue: 1,
          highestTrackableValue: 60_000_000,
          numberOfSignificantValueDigits: 3,
        });
        ctx.progress(`${s.name}: ${RATE} req/s for ${seconds} s (+${warmupSeconds} s warm-up) from a separate process`);
        results[s.name] = await runLoad(
          {
            url: server.url,
            caFile,
            rate: RATE,
            seconds,
            warmupSeconds,
            connections: CONNECTIONS,
            requests: s.requests,
          },
          dir,
          s.name,
        );
        serverSide[s.name] = {
          p50: current.getValueAtPercentile(50) / 1000,
          p99: current.getValueAtPercentile(99) / 1000,
          count: current.totalCount,
        };
        const r = results[s.name]!;
        ctx.progress(
          `${s.name}: p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.achievedRate.toFixed(0)} req/s, errors ${r.errors + r.non2xx}`,
        );
      }
    } finally {
      await server.close();
    }
    const floor = results.https_floor!;
    const pod = results.pod_mutation!;
    const cr = results.cr_validation!;
    return {
      params: {
        rate_rps: RATE,
        seconds,
        warmupSeconds,
        connections: 4,
        transport: "HTTPS keep-alive, TLS 1.3, loopback",
        quick: ctx.quick,
      },
      summary: {
        pod_mutation_p50_ms: round(pod.p50),
        pod_mutation_p99_ms: round(pod.p99),
        cr_validation_p50_ms: round(cr.p50),
        cr_validation_p99_ms: round(cr.p99),
        https_floor_p50_ms: round(floor.p50),
        https_floor_p99_ms: round(floor.p99),
        pod_mutation_p99_over_floor: round(pod.p99 / floor.p99),
        cr_validation_p99_over_floor: round(cr.p99 / floor.p99),
        pod_mutation_achieved_rps: round(pod.achievedRate),
        cr_validation_achieved_rps: round(cr.achievedRate),
        failed_requests: pod.errors + pod.non2xx + cr.errors + cr.non2xx + floor.errors + floor.non2xx,
        sender_lag_p99_ms: round(Math.max(pod.senderLagP99Ms, cr.senderLagP99Ms)),
        pod_mutation_server_p99_ms: round(serverSide.pod_mutation?.p99 ?? NaN),
        cr_validation_server_p99_ms: round(serverSide.cr_validation?.p99 ?? NaN),
        https_floor_server_p99_ms: round(serverSide.https_floor?.p99 ?? NaN),
        machine_load_1m: round(os.loadavg()[0] ?? NaN),
      },
      series: { ...results, serverSide },
    };
  },

  plot(result: BenchResult): TopLevelSpec {
    const { serverSide: _server, ...series } = result.series as Record<string, LoadResult>;
    const rows = Object.entries(series).flatMap(([scenario, r]) =>
      (["p50", "p90", "p99", "p999"] as const).map((q) => ({ scenario, quantile: q, ms: r[q] })),
    );
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: `Admission latency at ${RATE} req/s over HTTPS (separate load process)`,
      data: { values: rows },
      mark: "bar",
      encoding: {
        x: { field: "scenario", type: "nominal", title: null },
        xOffset: { field: "quantile" },
        y: { field: "ms", type: "quantitative", title: "latency (ms)" },
        color: { field: "quantile", type: "nominal" },
      },
      width: 420,
      height: 260,
    };
  },
};

export default bench;
