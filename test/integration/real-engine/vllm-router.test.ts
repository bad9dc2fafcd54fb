// The router in front of two real vLLM engines (CPU build, the tiny model, each engine on its own core): the engine
// contract end to end — OpenAI endpoints, streaming usage, metrics, KV events decoded into the index, kv-prefix
// routing a repeated long prefix to the engine that holds it (and that engine's own prefix-cache hits rising), and
// an adapter loaded at run time becoming routable.
import { expect } from "chai";
import { blockKeys } from "../../../api/block-hash.js";
import { ModelTokenizer } from "../../../api/model-tokenizer.js";
import { parseEngineMetrics } from "../../../engines/metric-names.js";
import { StaticDiscovery } from "../../../router/discovery/static.js";
import { startRouter, type Router } from "../../../router/server.js";
import { realEngineSetup, startRealEngine, type RealEngine, type RealEngineSetup } from "../../support/real-vllm.js";
import { until } from "../../support/until.js";

const MODEL = "tiny";

/** The parts of an OpenAI answer these tests read. */
interface Answer {
  model?: string;
  choices?: { message?: { role: string } }[];
  usage?: { prompt_tokens: number; completion_tokens: number };
}

async function post(
  url: string,
  path: string,
  body: unknown,
): Promise<{ status: number; text: string; json: Answer; pod: string }> {
  const res = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: Answer = {};
  try {
    json = JSON.parse(text) as Answer;
  } catch {
    // plain-text answers (vLLM's LoRA API)
  }
  return { status: res.status, text, json, pod: res.headers.get("target-pod") ?? "" };
}

async function engineMetrics(e: RealEngine) {
  return parseEngineMetrics(await (await fetch(`${e.url}/metrics`)).text(), "vllm");
}

describe("router with real vLLM engines", function () {
  this.timeout(900_000);
  let setup: RealEngineSetup;
  let engines: RealEngine[] = [];
  let router: Router;
  let tokenizer: ModelTokenizer;
  const id = (e: RealEngine) => `${e.host}:${e.port}`;

  before(async () => {
    setup = realEngineSetup();
    tokenizer = await ModelTokenizer.load(setup.model);
    const started = await Promise.allSettled([0, 1].map((core) => startRealEngine(setup, MODEL, core)));
    engines = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    router = await startRouter({
      port: 0,
      logLevel: "silent",
      scrapeIntervalMs: 100,
      modelsRefreshMs: 300,
      defaultStrategy: "kv-prefix",
      tokenizers: { [MODEL]: setup.model },
      discovery: new StaticDiscovery(
        engines.map((e) => ({
          id: id(e),
          host: e.host,
          port: e.port,
          model: MODEL,
          adapters: [],
          engine: "vllm",
          kvEvents: { endpoint: e.kvEndpoint, replayEndpoint: e.kvReplayEndpoint, topic: e.topic },
        })),
      ),
    });
  });

  after(async () => {
    await router?.close();
    await Promise.all(engines.map((e) => e.close()));
  });

  it("serves chat and completions, with the prompt token counts our tokenizer predicts", async () => {
    const messages = [{ role: "user", content: "Say something about the KV cache." }];
    const chat = await post(router.url, "/v1/chat/completions", { model: MODEL, messages, max_tokens: 5 });
    expect(chat.status, chat.text).to.equal(200);
    expect(chat.json.choices?.[0]?.message?.role).to.equal("assistant");
    expect(chat.json.usage?.prompt_tokens).to.equal(tokenizer.chatTokenIds(messages).length);
    const prompt = "The router picks an engine for every request";
    const done = await post(router.url, "/v1/completions", { model: MODEL, prompt, max_tokens: 5 });
    expect(done.status).to.equal(200);
    expect(done.json.usage?.prompt_tokens).to.equal(tokenizer.completionTokenIds(prompt).length);
  });

  it("streams chat with usage in the last chunk", async () => {
    const res = await fetch(router.url + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: "user", content: "stream please" }],
        max_tokens: 6,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    expect(res.status).to.equal(200);
    const events = (await res.text())
      .split("\n\n")
      .map((e) => e.replace(/^data: /, "").trim())
      .filter((e) => e.length > 0);
    expect(events.at(-1)).to.equal("[DONE]");
    const last = JSON.parse(events.at(-2)!) as Answer;
    expect(last.usage?.completion_tokens).to.be.within(1, 6);
    expect(last.usage?.prompt_tokens).to.be.greaterThan(0);
  });

  it("reads vLLM 0.32's metrics: KV usage, block size and hash algorithm from cache_config_info", async () => {
    await router.scrapeNow();
    for (const e of engines) {
      const m = router.registry.get(id(e))!.metrics;
      expect(m.kvUsage, "kv_cache_usage_perc").to.be.a("number");
      expect(m.running).to.be.a("number");
      expect(m.blockSize).to.equal(128);
      expect(m.prefixHashAlgo).to.equal("sha256");
      expect(m.prefixCacheQueries).to.be.a("number");
    }
  });

  it("decodes the engines' KV events into the index, under the keys the router computes for the prompt", async () => {
    const system = "You are the assistant of tenant one. Answer briefly and cite the policy number. ".repeat(12);
    const messages = [
      { role: "system", content: system },
      { role: "user", content: "first question" },
    ];
    const r = await post(router.url, "/v1/chat/completions", { model: MODEL, messages, max_tokens: 2 });
    expect(r.status).to.equal(200);
    const ids = tokenizer.chatTokenIds(messages);
    const keys = blockKeys(ids, 128, { algo: "sha256" });
    expect(keys.length).to.be.greaterThan(1);
    await until(
      "the engine's BlockStored events",
      () => (router.kvIndex.matchDepths(keys, [r.pod]).get(r.pod) ?? 0) === keys.length,
      20_000,
    );
  });

  it("sends a repeated long prefix to the engine holding it, whose own prefix-cache hits rise", async () => {
    const system = "Tenant two's handbook: refunds within thirty days, shipping in two days, support by mail. ".repeat(
      14,
    );
    const ask = (q: string) =>
      post(router.url, "/v1/chat/completions", {
        model: MODEL,
        messages: [
          { role: "system", content: system },
          { role: "user", content: q },
        ],
        max_tokens: 2,
      });
    const first = await ask("question zero");
    expect(first.status).to.equal(200);
    const holder = engines.find((e) => id(e) === first.pod)!;
    const keys = blockKeys(tokenizer.chatTokenIds([{ role: "system", content: system }]), 128, { algo: "sha256" });
    await until(
      "the first request's blocks in the index",
      () => (router.kvIndex.matchDepths(keys, [first.pod]).get(first.pod) ?? 0) > 0,
      20_000,
    );
    const before = (await engineMetrics(holder)).prefixCacheHits ?? 0;
    for (let i = 1; i <= 4; i++) {
      const r = await ask(`question ${i}`);
      expect(r.status).to.equal(200);
      expect(r.pod, `request ${i}`).to.equal(first.pod);
    }
    const after = (await engineMetrics(holder)).prefixCacheHits ?? 0;
    // Each repeat hits at least the full blocks of the shared system prompt.
    expect(after - before).to.be.at.least(4 * 128 * (keys.length - 1));
  });

  it("routes to an adapter loaded at run time, keyed by the path the engine reports", async () => {
    const target = engines[1]!;
    const load = await post(target.url, "/v1/load_lora_adapter", { lora_name: "tiny-lora", lora_path: setup.adapter });
    expect(load.status, load.text).to.equal(200);
    await until(
      "the router to see the adapter",
      () => router.registry.get(id(target))!.adapterPaths.has("tiny-lora"),
      20_000,
    );
    expect(router.registry.get(id(target))!.adapterPaths.get("tiny-lora")).to.equal(setup.adapter);
    const r = await post(router.url, "/v1/completions", {
      model: "tiny-lora",
      prompt: "adapter prompt",
      max_tokens: 3,
    });
    expect(r.status, r.text).to.equal(200);
    expect(r.pod).to.equal(id(target));
    expect(r.json.model).to.equal("tiny-lora");
  });
});
