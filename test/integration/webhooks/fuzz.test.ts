// 10,000 malformed admission requests over HTTPS: every one gets a 2xx/4xx answer, none a 5xx, and the server stays
// healthy. Inputs come from a seeded generator so a failure reproduces.
import { expect } from "chai";
import pino from "pino";
import { Agent, request } from "undici";
import { WEBHOOK_PATHS } from "../../../webhooks/paths.js";
import { startWebhooks, type WebhookServer } from "../../../webhooks/server.js";
import { seededRandom } from "../../support/seeded-random.js";

const valid = {
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "u",
    kind: { group: "", version: "v1", kind: "Pod" },
    operation: "CREATE",
    namespace: "default",
    object: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "p",
        labels: { "model.aibrix.ai/name": "m" },
        annotations: { "model.aibrix.ai/sidecar-injection": "true" },
      },
      spec: { containers: [{ name: "c", image: "vllm", resources: { limits: { "nvidia.com/gpu": "1" } } }] },
    },
  },
};

const weird: unknown[] = [
  null,
  0,
  -1,
  1e308,
  "",
  "x".repeat(300),
  true,
  [],
  {},
  [[[]]],
  { "": "" },
  "\u0000",
  "\ud800",
  { __proto__: { x: 1 } },
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/** Replaces a random node of a JSON tree with something of the wrong shape. */
function corrupt(r: () => number, value: unknown, depth = 0): unknown {
  if (depth > 0 && r() < 0.25) return pick(r, weird);
  if (Array.isArray(value))
    return value.length === 0 ? pick(r, weird) : value.map((v) => (r() < 0.5 ? corrupt(r, v, depth + 1) : v));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(out);
    const key = pick(r, keys.length ? keys : ["x"]);
    const roll = r();
    if (roll < 0.3) delete out[key];
    else if (roll < 0.9) out[key] = corrupt(r, out[key], depth + 1);
    else out[`extra${depth}`] = pick(r, weird);
    return out;
  }
  return pick(r, weird);
}

function malformedBody(r: () => number): string | Buffer {
  const text = JSON.stringify(valid);
  switch (Math.floor(r() * 6)) {
    case 0:
      return text.slice(0, Math.floor(r() * text.length)); // truncated
    case 1:
      return Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256))); // bytes
    case 2: {
      const i = Math.floor(r() * text.length);
      return text.slice(0, i) + pick(r, ["{", "]", '"', "\\", ",", "\u0000", "\ud83d"]) + text.slice(i + 1);
    }
    default:
      return JSON.stringify(corrupt(r, valid)) ?? "null"; // well-formed JSON, wrong shapes
  }
}

describe("webhooks: fuzzing the HTTPS endpoint", function () {
  this.timeout(120_000);
  let server: WebhookServer;
  let agent: Agent;

  before(async () => {
    server = await startWebhooks({
      host: "127.0.0.1",
      port: 0,
      logger: pino({ level: "silent" }),
      maxBodyBytes: 64 * 1024,
    });
    agent = new Agent({ connect: { ca: server.caBundle }, connections: 8, keepAliveTimeout: 30_000 });
  });
  after(async () => {
    await agent.close();
    await server.close();
  });

  it("10,000 malformed requests: zero 5xx, zero crashes, still healthy", async () => {
    const r = seededRandom(20261124);
    const paths = [...WEBHOOK_PATHS.map((p) => p.path), "/mutate", "/validate"];
    const total = 10_000;
    const statuses = new Map<number, number>();
    const fiveXX: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const body = malformedBody(r);
        const path = pick(r, paths);
        const res = await request(server.url + path, {
          method: "POST",
          body,
          dispatcher: agent,
          headers: { "content-type": "application/json" },
        });
        const text = await res.body.text();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 500) fiveXX.push(`${path} ${String(body).slice(0, 200)} -> ${text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(answered).to.equal(total);
    expect(fiveXX, fiveXX.slice(0, 3).join("\n")).to.deep.equal([]);
    expect(statuses.get(400) ?? 0, JSON.stringify([...statuses])).to.be.greaterThan(total / 2);
    const health = await request(server.url + "/healthz", { dispatcher: agent });
    expect(health.statusCode).to.equal(200);
    await health.body.text();
  });
});
