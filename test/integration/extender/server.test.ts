// The extender over real HTTP, with cluster state fed directly (no API server): every verb, bad input, metrics,
// concurrent binds on one node, and hot reload of the profile and recommendation files.
import { expect } from "chai";
import { mkdtemp, rm, writeFile, utimes } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import https from "node:https";
import { pino } from "pino";
import { createCertificateAuthority, createServingCertificate } from "../../../webhooks/certificates.js";
import type { BindingRequest, PodBinder } from "../../../extender/bind.js";
import { startExtender, type ExtenderHandle } from "../../../extender/server.js";
import { ClusterState } from "../../../extender/state.js";
import type { PodObject } from "../../../extender/wire.js";
import { fleetProfiles, node, NOW, pod, PRODUCTS, PROFILE_YAML } from "../../unit/extender/fleet.js";

const quiet = pino({ level: "silent" });

async function post(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as unknown };
}

class RecordingBinder implements PodBinder {
  readonly calls: BindingRequest[] = [];
  failNext = false;
  async bind(req: BindingRequest): Promise<void> {
    this.calls.push(req);
    await new Promise((r) => setTimeout(r, 20)); // overlap concurrent binds
    if (this.failNext) {
      this.failNext = false;
      throw new Error("HTTP 409: Operation cannot be fulfilled");
    }
  }
  async getPod(namespace: string, name: string): Promise<PodObject> {
    throw new Error(`pods "${name}" not found in ${namespace}`);
  }
}

function freshFleet(): ClusterState {
  const s = new ClusterState();
  s.upsertNode(node("h100-a", { product: PRODUCTS.H100, gpus: 8, reportAgeMin: 0 }));
  s.upsertNode(node("l4-a", { product: PRODUCTS.L4, gpus: 4, reportAgeMin: 0 }));
  s.upsertNode(node("a10g-a", { product: PRODUCTS.A10G, gpus: 4, reportAgeMin: 0 }));
  return s;
}

describe("extender HTTP server", () => {
  let ext: ExtenderHandle;
  let binder: RecordingBinder;
  let state: ClusterState;
  const model = pod("m1", { model: "llama-8b", gpus: 2 });

  beforeEach(async () => {
    binder = new RecordingBinder();
    state = freshFleet();
    ext = await startExtender({ state, binder, profiles: fleetProfiles(), logger: quiet, clock: () => NOW });
  });
  afterEach(async () => ext.close());

  it("filters names-only and full-node requests with PascalCase results", async () => {
    const names = await post(`${ext.urlPrefix}/filter`, { Pod: model, Nodes: null, NodeNames: ["h100-a", "a10g-a"] });
    expect(names.status).to.equal(200);
    expect(names.json).to.have.all.keys("Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error");
    const r = names.json as { NodeNames: string[]; FailedAndUnresolvableNodes: Record<string, string> };
    expect(r.NodeNames).to.deep.equal(["h100-a"]);
    expect(r.FailedAndUnresolvableNodes["a10g-a"]).to.contain("cannot serve model llama-8b within its SLO");
    const full = await post(`${ext.urlPrefix}/filter`, {
      Pod: model,
      Nodes: { items: [node("h100-a", { product: PRODUCTS.H100, gpus: 8, reportAgeMin: 0 })] },
      NodeNames: null,
    });
    const f = full.json as { Nodes: { items: { metadata: { name: string } }[] }; NodeNames: null };
    expect(f.NodeNames).to.equal(null);
    expect(f.Nodes.items.map((n) => n.metadata.name)).to.deep.equal(["h100-a"]);
  });

  it("prioritizes with integer scores 0..10 for every candidate", async () => {
    const r = await post(`${ext.urlPrefix}/prioritize`, {
      Pod: model,
      Nodes: null,
      NodeNames: ["h100-a", "l4-a", "x"],
    });
    const list = r.json as { Host: string; Score: number }[];
    expect(list.map((h) => h.Host)).to.deep.equal(["h100-a", "l4-a", "x"]);
    for (const h of list) expect(h.Score).to.be.within(0, 10).and.satisfy(Number.isInteger);
    expect(list[2]!.Score).to.equal(0);
    expect(list[0]!.Score).to.be.greaterThan(list[1]!.Score);
  });

  it("passes pods it does not manage through untouched", async () => {
    const plain = pod("web", {});
    const noModel = pod("gpu-job", { gpus: 1 });
    for (const p of [plain, noModel]) {
      const f = await post(`${ext.urlPrefix}/filter`, { Pod: p, Nodes: null, NodeNames: ["a10g-a", "unknown"] });
      expect((f.json as { NodeNames: string[] }).NodeNames).to.deep.equal(["a10g-a", "unknown"]);
      const pr = await post(`${ext.urlPrefix}/prioritize`, { Pod: p, Nodes: null, NodeNames: ["a10g-a"] });
      expect(pr.json).to.deep.equal([]);
    }
  });

  it("answers malformed input with 200 and an Error naming the field", async () => {
    const bad = await post(`${ext.urlPrefix}/filter`, "{nope");
    expect(bad.status).to.equal(200);
    expect((bad.json as { Error: string }).Error).to.match(/not valid JSON/);
    const noNodes = await post(`${ext.urlPrefix}/filter`, { Pod: model, Nodes: null, NodeNames: null });
    expect((noNodes.json as { Error: string; NodeNames: null }).Error).to.match(/both null/);
    const frac = pod("f", { model: "llama-8b", gpus: 1 });
    frac.spec!.containers![0]!.resources = { limits: { "nvidia.com/gpu": "0.5" } };
    const fr = await post(`${ext.urlPrefix}/filter`, { Pod: frac, NodeNames: ["h100-a"] });
    expect((fr.json as { Error: string }).Error).to.contain('nvidia.com/gpu = "0.5" breaks rule "whole number"');
    const pr = await post(`${ext.urlPrefix}/prioritize`, { Pod: 3 });
    expect(pr).to.deep.equal({ status: 200, json: [] });
    const b = await post(`${ext.urlPrefix}/bind`, { PodName: "x" });
    expect(b.status).to.equal(200);
    expect((b.json as { Error: string }).Error).to.match(/ExtenderBindingArgs.PodNamespace/);
    const wrongVerb = await fetch(`${ext.urlPrefix}/filter`);
    expect(wrongVerb.status).to.equal(405);
  });

  it("takes 50,000 node names and refuses a 50 MB body before reading it", async () => {
    const names = Array.from({ length: 50_000 }, (_, i) => `gpu-node-${i}.rack-${i % 97}.zone-a.example.internal`);
    const many = await post(`${ext.urlPrefix}/filter`, { Pod: model, Nodes: null, NodeNames: names });
    expect(many.status).to.equal(200);
    expect((many.json as { Error: string }).Error).to.equal("");
    const big = JSON.stringify({ Pod: model, Nodes: null, NodeNames: ["x".repeat(50 * 1024 * 1024)] });
    const t0 = performance.now();
    const refused = await post(`${ext.urlPrefix}/filter`, big);
    expect((refused.json as { Error: string }).Error).to.match(/request body exceeds \d+ bytes/);
    expect(performance.now() - t0).to.be.below(2000);
  });

  it("binds concurrent pods on one node to disjoint devices and refuses the one that does not fit", async () => {
    const pods = [1, 2, 3, 4, 5].map((i) => pod(`p${i}`, { model: "llama-8b", gpus: 2 }));
    for (const p of pods) state.upsertPod(p);
    const results = await Promise.all(
      pods.map((p) =>
        post(`${ext.urlPrefix}/bind`, {
          PodName: p.metadata!.name,
          PodNamespace: "default",
          PodUID: p.metadata!.uid,
          Node: "h100-a",
        }),
      ),
    );
    const errors = results.map((r) => (r.json as { Error: string }).Error);
    expect(errors.filter((e) => e === "")).to.have.length(4);
    expect(errors.filter((e) => e !== "")[0]).to.match(
      /has 0 free healthy nvidia.com\/gpu but pod default\/p\d needs 2/,
    );
    const claimed = binder.calls
      .map((c) => c.annotations["scheduling.aibrix.ai/gpu-devices"]!)
      .flatMap((d) => d.split(","));
    expect(claimed.sort()).to.deep.equal(["0", "1", "2", "3", "4", "5", "6", "7"]);
    expect(binder.calls.every((c) => c.node === "h100-a" && c.uid.startsWith("uid-p"))).to.equal(true);
  });

  it("gives devices back when the Binding fails, and says why", async () => {
    const p = pod("solo", { model: "llama-8b", gpus: 8 });
    state.upsertPod(p);
    binder.failNext = true;
    const args = { PodName: "solo", PodNamespace: "default", PodUID: p.metadata!.uid, Node: "h100-a" };
    const first = await post(`${ext.urlPrefix}/bind`, args);
    expect((first.json as { Error: string }).Error).to.equal(
      "binding default/solo to h100-a failed: HTTP 409: Operation cannot be fulfilled",
    );
    expect(state.node("h100-a")!.healthyFree).to.equal(8);
    const second = await post(`${ext.urlPrefix}/bind`, args);
    expect((second.json as { Error: string }).Error).to.equal("");
    expect(state.node("h100-a")!.healthyFree).to.equal(0);
    const unknown = await post(`${ext.urlPrefix}/bind`, { ...args, PodName: "ghost", PodUID: "u-ghost" });
    expect((unknown.json as { Error: string }).Error).to.match(/cannot read pod default\/ghost to count its GPUs/);
  });

  it("trims preemption candidates to nodes where eviction makes room on a fitting GPU type", async () => {
    const victim = pod("victim", { model: "other", gpus: 8, node: "h100-a", devices: "0,1,2,3,4,5,6,7" });
    state.upsertPod(victim);
    const uid = victim.metadata!.uid!;
    const r = await post(`${ext.urlPrefix}/preempt`, {
      Pod: model,
      NodeNameToVictims: null,
      NodeNameToMetaVictims: {
        "h100-a": { Pods: [{ UID: uid }], NumPDBViolations: 0 },
        "a10g-a": { Pods: [], NumPDBViolations: 0 },
      },
    });
    expect(r).to.deep.equal({
      status: 200,
      json: { NodeNameToMetaVictims: { "h100-a": { Pods: [{ UID: uid }], NumPDBViolations: 0 } } },
    });
    const bad = await post(`${ext.urlPrefix}/preempt`, { Pod: model });
    expect(bad).to.deep.equal({ status: 200, json: { NodeNameToMetaVictims: {} } });
  });

  it("serves /healthz and /metrics with decisions, latency and filtered-out reasons", async () => {
    await post(`${ext.urlPrefix}/filter`, { Pod: model, NodeNames: ["h100-a", "a10g-a", "ghost"] });
    await post(`${ext.urlPrefix}/filter`, "[");
    const health = await fetch(`${ext.url}/healthz`);
    expect(await health.json()).to.deep.equal({ ok: true, nodes: 3 });
    // State handed in directly is complete from the start: ready at once.
    expect(await (await fetch(`${ext.url}/readyz`)).json()).to.deep.equal({ ready: true, nodes: 3 });
    const text = await (await fetch(`${ext.url}/metrics`)).text();
    expect(text).to.contain('aibrix_extender_decisions_total{verb="filter",outcome="managed"} 1');
    expect(text).to.contain('aibrix_extender_decisions_total{verb="filter",outcome="error"} 1');
    expect(text).to.contain('aibrix_extender_filtered_nodes_total{reason="slo_infeasible"} 1');
    expect(text).to.contain('aibrix_extender_filtered_nodes_total{reason="unknown_node"} 1');
    expect(text).to.match(/aibrix_extender_request_duration_seconds_count\{verb="filter"\} 2/);
  });
});

describe("extender hot reload", () => {
  let dir: string;
  let ext: ExtenderHandle | undefined;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "extender-reload-"))));
  afterEach(async () => {
    await ext?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function until(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it("picks up new profiles and recommendations, keeping the old ones when a file breaks", async () => {
    const profiles = path.join(dir, "profiles.yaml");
    const recs = path.join(dir, "recommendations.json");
    await writeFile(profiles, PROFILE_YAML);
    await writeFile(recs, JSON.stringify({ recommendations: [] }));
    ext = await startExtender({
      state: freshFleet(),
      profilesFile: profiles,
      recommendationsFile: recs,
      reloadIntervalMs: 50,
      logger: quiet,
      clock: () => NOW,
    });
    const m = pod("m", { model: "llama-8b", gpus: 1, deployment: "llama" });
    const passed = async () =>
      ((await post(`${ext!.urlPrefix}/filter`, { Pod: m, NodeNames: ["a10g-a"] })).json as { NodeNames: string[] })
        .NodeNames;
    expect(await passed()).to.deep.equal([]);
    // A10G now meets the SLO.
    await writeFile(profiles, PROFILE_YAML.replace("tputs: [[0, 0], [0, 0]]", "tputs: [[3, 1], [2, 1]]"));
    await until(async () => (await passed()).length === 1, "profile reload");
    // A broken document is reported and ignored.
    await writeFile(profiles, "models: [");
    const later = new Date(Date.now() + 5000);
    await utimes(profiles, later, later);
    await until(
      async () => (await (await fetch(`${ext!.url}/metrics`)).text()).includes('source="profiles",result="error"'),
      "error metric",
    );
    expect(await passed()).to.deep.equal(["a10g-a"]);
    // The optimizer asks for L4: deficit lifts L4 over H100 once only deficit counts.
    const score = async () => {
      const r = await post(`${ext!.urlPrefix}/prioritize`, { Pod: m, NodeNames: ["h100-a", "l4-a"] });
      return (r.json as { Score: number }[]).map((h) => h.Score);
    };
    const before = await score();
    await writeFile(
      recs,
      JSON.stringify({ recommendations: [{ namespace: "default", deployment: "llama", recommended: { L4: 2 } }] }),
    );
    await until(async () => (await score())[1]! > before[1]!, "recommendation reload");
  });

  it("refuses to start on an invalid profile file, naming the field", async () => {
    const profiles = path.join(dir, "profiles.yaml");
    await writeFile(
      profiles,
      "gpus: {}\nmodels: {m: {profiles: [{gpu: X, cost: 1, tputs: [[1]], indexes: [[1],[1]]}]}}",
    );
    let err: unknown;
    try {
      ext = await startExtender({ state: freshFleet(), profilesFile: profiles, logger: quiet });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.contain('models.m.profiles[0].gpu: "X" breaks rule "known GPU type"');
  });
});

describe("extender over HTTPS", () => {
  it("serves the verbs with the given certificate", async () => {
    const ca = createCertificateAuthority("extender-test-ca", 3600);
    const leaf = createServingCertificate(ca, ["localhost", "127.0.0.1"], 3600);
    const ext = await startExtender({
      state: freshFleet(),
      profiles: fleetProfiles(),
      tls: { cert: leaf.certPem, key: leaf.keyPem },
      logger: quiet,
      clock: () => NOW,
    });
    try {
      expect(ext.urlPrefix).to.match(/^https:\/\/127\.0\.0\.1:\d+\/scheduler$/);
      const body = JSON.stringify({ Pod: pod("m", { model: "llama-8b", gpus: 1 }), NodeNames: ["l4-a"] });
      const answer = await new Promise<string>((resolve, reject) => {
        const req = https.request(
          `${ext.urlPrefix}/filter`,
          { method: "POST", ca: ca.certPem, headers: { "content-type": "application/json" } },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () => resolve(text));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
      expect((JSON.parse(answer) as { NodeNames: string[] }).NodeNames).to.deep.equal(["l4-a"]);
    } finally {
      await ext.close();
    }
  });
});
