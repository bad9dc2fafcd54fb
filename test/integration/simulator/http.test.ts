import { expect } from "chai";
import OpenAI from "openai";
import { countTokens } from "../../../api/tokens.js";
import { startSimulator, type RunningSimulator } from "../../../simulator/index.js";

async function post(sim: RunningSimulator, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(sim.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* plain text reply */
  }
  return { status: res.status, text, json: json as { error?: { message: string; type: string; code: number } } };
}

function metricValue(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(name + "{") || l.startsWith(name + " "));
  if (!line) throw new Error(`metric ${name} missing`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("simulator HTTP surface (real server, openai client)", function () {
  this.timeout(20000);
  let sim: RunningSimulator;
  let client: OpenAI;

  before(async () => {
    sim = await startSimulator({ model: "llama-8b", calibration: "h100-8b", speedup: 20, adapters: ["sql-lora"] });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => sim.close());

  it("serves completions with usage counted by the shared tokenizer", async () => {
    const r = await client.completions.create({ model: "llama-8b", prompt: "Say hello to the world", max_tokens: 7 });
    expect(r.object).to.equal("text_completion");
    expect(r.choices[0]!.finish_reason).to.equal("length");
    expect(r.usage).to.deep.equal({
      prompt_tokens: countTokens("Say hello to the world"),
      completion_tokens: 7,
      total_tokens: countTokens("Say hello to the world") + 7,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    expect(countTokens(r.choices[0]!.text)).to.equal(7);
  });

  it("reports prompt tokens served from the prefix cache as usage.prompt_tokens_details.cached_tokens", async () => {
    const prompt = "a shared system prompt that is long enough to fill several cache blocks ".repeat(20);
    const first = await client.completions.create({ model: "llama-8b", prompt: prompt + "one", max_tokens: 2 });
    expect(first.usage?.prompt_tokens_details?.cached_tokens).to.equal(0);
    const second = await client.completions.create({ model: "llama-8b", prompt: prompt + "two", max_tokens: 2 });
    const cached = second.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    expect(cached).to.be.above(countTokens(prompt) / 2);
    expect(cached).to.be.below(second.usage!.prompt_tokens);
  });

  it("names the stop string that ended the output in stop_reason, and honours min_tokens", async () => {
    const word = " "; // every simulated word starts with a space
    const r = await client.completions.create({ model: "llama-8b", prompt: "x", max_tokens: 12, stop: [word] });
    const choice = r.choices[0]! as { finish_reason: string; stop_reason?: string | null };
    expect(choice.finish_reason).to.equal("stop");
    expect(choice.stop_reason).to.equal(word);
    const long = await client.completions.create({
      model: "llama-8b",
      prompt: "x",
      max_tokens: 12,
      stop: [word],
      min_tokens: 12,
    } as never);
    expect((long as { usage?: { completion_tokens: number } }).usage?.completion_tokens).to.equal(12);
    const plain = await client.completions.create({ model: "llama-8b", prompt: "x", max_tokens: 3 });
    expect((plain.choices[0] as { stop_reason?: unknown }).stop_reason).to.equal(null);
  });

  it("serves embeddings in vLLM's shape, floats and base64, deterministic per input", async () => {
    const r = await client.embeddings.create({ model: "llama-8b", input: ["hello world", "another"] });
    expect(r.object).to.equal("list");
    expect(r.data.map((d) => d.index)).to.deep.equal([0, 1]);
    expect(r.data[0]!.embedding).to.have.length(1024);
    const norm = Math.sqrt(r.data[0]!.embedding.reduce((s, x) => s + x * x, 0));
    expect(norm).to.be.closeTo(1, 1e-3);
    expect(r.usage.prompt_tokens).to.equal(countTokens("hello world") + countTokens("another"));
    // The SDK asks for base64 by default when no format is given and decodes it: equal to the float answer.
    const again = await client.embeddings.create({
      model: "llama-8b",
      input: "hello world",
      encoding_format: "base64",
    });
    const decoded = again.data[0]!.embedding as unknown as string;
    const floats = new Float32Array(Buffer.from(decoded, "base64").buffer.slice(0));
    expect(floats[0]).to.be.closeTo(r.data[0]!.embedding[0]!, 1e-6);
    let failure: unknown;
    await client.embeddings.create({ model: "llama-8b", input: [] }).catch((e: unknown) => (failure = e));
    expect(String(failure)).to.match(/400.*input/);
  });

  it("refuses parameters it cannot simulate with a 400 naming the field", async () => {
    const cases: [string, Record<string, unknown>][] = [
      ["logprobs", { logprobs: true, top_logprobs: 2 }],
      ["tools", { tools: [{ type: "function", function: { name: "f", parameters: {} } }] }],
      ["response_format", { response_format: { type: "json_object" } }],
    ];
    for (const [field, extra] of cases) {
      const res = await fetch(`${sim.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "llama-8b", messages: [{ role: "user", content: "hi" }], ...extra }),
      });
      expect(res.status, field).to.equal(400);
      const body = (await res.json()) as { error: { param: string; message: string } };
      expect(body.error.param).to.equal(field);
      expect(body.error.message).to.match(/is not simulated/);
    }
    const echo = await fetch(`${sim.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "llama-8b", prompt: "hi", echo: true }),
    });
    expect(echo.status).to.equal(400);
    const neutral = await fetch(`${sim.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "llama-8b",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 2,
        logprobs: false,
        tools: [],
        response_format: { type: "text" },
      }),
    });
    expect(neutral.status).to.equal(200);
  });

  it("serves chat completions", async () => {
    const r = await client.chat.completions.create({
      model: "llama-8b",
      messages: [{ role: "user", content: "hi there" }],
      max_completion_tokens: 3,
    });
    expect(r.object).to.equal("chat.completion");
    expect(r.choices[0]!.message.role).to.equal("assistant");
    expect(countTokens(r.choices[0]!.message.content ?? "")).to.equal(3);
    expect(r.usage?.completion_tokens).to.equal(3);
  });

  it("streams chat with usage in the final chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "llama-8b",
      messages: [{ role: "user", content: "stream please" }],
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(finish).to.equal("length");
    expect(countTokens(text)).to.equal(5);
    expect(usage?.completion_tokens).to.equal(5);
  });

  it("streams completions; stop strings end the reply with finish_reason stop", async () => {
    const stream = await client.completions.create({ model: "llama-8b", prompt: "x", max_tokens: 50, stream: true });
    let n = 0;
    for await (const c of stream) if (c.choices[0]?.text) n++;
    expect(n).to.equal(50);
    const full = await client.completions.create({ model: "llama-8b", prompt: "y", max_tokens: 40 });
    const word = full.choices[0]!.text.split(" ")[5]!;
    // The same prompt gives a different reply (the reply depends on the request id), so stop on a common word.
    const r = await client.completions.create({ model: "llama-8b", prompt: "y", max_tokens: 200, stop: [` ${word}`] });
    expect(r.choices[0]!.finish_reason).to.equal("stop");
    expect(r.choices[0]!.text).to.not.include(` ${word}`);
  });

  it("lists the base model and adapters, and loads/unloads adapters with vLLM's semantics", async () => {
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).to.deep.equal(["llama-8b", "sql-lora"]);
    let r = await post(sim, "/v1/load_lora_adapter", { lora_name: "chat-lora", lora_path: "/adapters/chat" });
    expect(r.status).to.equal(200);
    expect(r.text).to.equal("Success: LoRA adapter 'chat-lora' added successfully.");
    r = await post(sim, "/v1/load_lora_adapter", { lora_name: "chat-lora", lora_path: "/adapters/chat" });
    expect(r.status).to.equal(400);
    expect(r.json.error?.message).to.equal("The lora adapter 'chat-lora' has already been loaded.");
    const c = await client.completions.create({ model: "chat-lora", prompt: "use the adapter", max_tokens: 2 });
    expect(c.model).to.equal("chat-lora");
    r = await post(sim, "/v1/unload_lora_adapter", { lora_name: "chat-lora" });
    expect(r.status).to.equal(200);
    r = await post(sim, "/v1/unload_lora_adapter", { lora_name: "chat-lora" });
    expect(r.status).to.equal(404);
    expect(r.json.error?.message).to.equal("The lora adapter 'chat-lora' cannot be found.");
    r = await post(sim, "/v1/load_lora_adapter", { lora_name: "x" });
    expect(r.status).to.equal(400);
    expect(r.json.error?.message).to.match(/lora_path/);
  });

  it("answers bad input with vLLM-shaped 4xx errors", async () => {
    let r = await post(sim, "/v1/completions", "{not json");
    expect(r.status).to.equal(400);
    expect(r.json.error?.type).to.equal("BadRequestError");
    expect(r.json.error?.code).to.equal(400);
    r = await post(sim, "/v1/completions", { model: "nope", prompt: "x" });
    expect(r.status).to.equal(404);
    expect(r.json.error?.message).to.equal("The model `nope` does not exist.");
    r = await post(sim, "/v1/completions", { model: "llama-8b", prompt: "word ".repeat(40000), max_tokens: 10 });
    expect(r.status).to.equal(400);
    expect(r.json.error?.message).to.match(/maximum context length is 32768 tokens/);
    r = await post(sim, "/v1/completions", { model: "llama-8b", prompt: "x", max_tokens: -1 });
    expect(r.status).to.equal(400);
    expect(r.json.error?.message).to.match(/^max_tokens: -1 must be an integer >= 1/);
    r = await post(sim, "/v1/chat/completions", { model: "llama-8b", messages: [] });
    expect(r.json.error?.message).to.match(/^messages: must be a non-empty list/);
    r = await post(sim, "/v1/completions", { model: "llama-8b", prompt: "x", n: 2 });
    expect(r.json.error?.message).to.match(/^n: 2 is not supported/);
    await client.completions.create({ model: "nope", prompt: "x" }).then(
      () => expect.fail("should reject"),
      (e: unknown) => expect(e).to.be.instanceOf(OpenAI.NotFoundError),
    );
  });

  it("exposes vLLM's metric names, including LoRA info and prefix-cache counters", async () => {
    const text = await (await fetch(`${sim.url}/metrics`)).text();
    for (const name of [
      "vllm:num_requests_running",
      "vllm:num_requests_waiting",
      "vllm:kv_cache_usage_perc",
      'vllm:cache_config_info{block_size="16"',
      "vllm:request_time_per_output_token_seconds_bucket",
      "vllm:prefix_cache_queries_total",
      "vllm:prefix_cache_hits_total",
      "vllm:prompt_tokens_total",
      "vllm:generation_tokens_total",
      "vllm:time_to_first_token_seconds_bucket",
      "vllm:inter_token_latency_seconds_bucket",
      "vllm:e2e_request_latency_seconds_bucket",
    ]) {
      expect(text, name).to.include(name);
    }
    expect(text, "removed in vLLM 0.32").to.not.include("gpu_cache_usage_perc");
    expect(text).to.match(
      /vllm:lora_requests_info\{max_lora="4",running_lora_adapters="",waiting_lora_adapters=""\} \d/,
    );
    expect(metricValue(text, "vllm:generation_tokens_total")).to.be.greaterThan(0);
    expect((await fetch(`${sim.url}/health`)).status).to.equal(200);
  });

  it("makes prefix caching observable: a repeated long prompt is much faster and raises the hit counter", async () => {
    const prompt = "A long shared system prompt about databases and queries. ".repeat(300);
    const ttftSum = (t: string) => metricValue(t, "vllm:time_to_first_token_seconds_sum");
    const m0 = await sim.metricsText();
    await client.completions.create({ model: "llama-8b", prompt, max_tokens: 1 });
    const m1 = await sim.metricsText();
    await client.completions.create({ model: "llama-8b", prompt, max_tokens: 1 });
    const m2 = await sim.metricsText();
    const cold = ttftSum(m1) - ttftSum(m0);
    const warm = ttftSum(m2) - ttftSum(m1);
    const hits = metricValue(m2, "vllm:prefix_cache_hits_total") - metricValue(m1, "vllm:prefix_cache_hits_total");
    expect(hits).to.be.greaterThan(countTokens(prompt) - 32);
    // Simulated TTFT (h100-8b): ~3,900 uncached tokens cost tens of ms; the warm run prefills under one block.
    expect(cold).to.be.greaterThan(0.03);
    expect(warm).to.be.lessThan(cold / 3);
  });

  it("reports adapters of running requests in vllm:lora_requests_info", async () => {
    const stream = await client.completions.create({ model: "sql-lora", prompt: "q", max_tokens: 400, stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next(); // the request is running once its first token is out
    const text = await sim.metricsText();
    expect(text).to.match(
      /vllm:lora_requests_info\{max_lora="4",running_lora_adapters="sql-lora",waiting_lora_adapters=""\}/,
    );
    stream.controller.abort();
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.stats().running).to.equal(0);
  });

  it("keeps separate metrics per instance in one process", async () => {
    const other = await startSimulator({ model: "other", speedup: 50 });
    try {
      await new OpenAI({ baseURL: `${other.url}/v1`, apiKey: "x" }).completions.create({
        model: "other",
        prompt: "a",
        max_tokens: 1,
      });
      const text = await other.metricsText();
      expect(text).to.include('model_name="other"');
      expect(text).to.not.include('model_name="llama-8b"');
      expect(await sim.metricsText()).to.not.include('model_name="other"');
    } finally {
      await other.close();
    }
  });

  it("refuses to start when an asked-for max model length cannot fit the KV cache (as vLLM), and fits a default", async () => {
    let error: Error | undefined;
    await startSimulator({ model: "m", numGpuBlocks: 384, maxModelLen: 8192 }).catch((e: Error) => (error = e));
    expect(error?.message).to.match(/^maxModelLen: .*\(8192\).*holds 6144\. .*estimated maximum model length is 6144/);
    const fitted = await startSimulator({ model: "m", numGpuBlocks: 384, speedup: 50 });
    try {
      const models = (await (await fetch(`${fitted.url}/v1/models`)).json()) as { data: { max_model_len: number }[] };
      expect(models.data[0]!.max_model_len).to.equal(6144);
    } finally {
      await fitted.close();
    }
  });
});
