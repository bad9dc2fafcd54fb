// A minimal vLLM-shaped engine with canned answers, run as its own process: the overhead benchmark needs a backend
// whose own time is tiny and steady, so what the router adds is not hidden under engine noise.
//
// With a tokenizer directory it also publishes KV events as vLLM does (ZMQ, simulator/kv-events.ts): a BlockStored
// batch naming a prompt's full blocks by vLLM's block keys. vLLM announces blocks once, when it stores them; here a
// document's blocks are announced again at most once a second, so a router started after the engine learns them
// too (a little more event traffic than in production; nothing is ever evicted: the documents fit any cache).
// Usage: node --import tsx bench/router-overhead/canned-engine.ts <port> <model> [<tokenizer dir>]
import { createServer } from "node:http";
import { blockDigests, digestKey } from "../../api/block-hash.js";
import { ModelTokenizer } from "../../api/model-tokenizer.js";
import { KvEventPublisher } from "../../simulator/kv-events.js";

const port = Number(process.argv[2] ?? 0);
const model = process.argv[3] ?? "m";
const tokenizerDir = process.argv[4];
const STREAM_TOKENS = 8;
const BLOCK_SIZE = 16;

const completion = JSON.stringify({
  id: "cmpl-bench",
  object: "text_completion",
  created: 1,
  model,
  choices: [{ index: 0, text: " one two three four", logprobs: null, finish_reason: "length", stop_reason: null }],
  usage: { prompt_tokens: 8, completion_tokens: 4, total_tokens: 12 },
});
const chunk = (i: number) =>
  `data: ${JSON.stringify({ id: "cmpl-bench", object: "text_completion", created: 1, model, choices: [{ index: 0, text: ` t${i}`, logprobs: null, finish_reason: null }] })}\n\n`;
const chunks = Array.from({ length: STREAM_TOKENS }, (_, i) => chunk(i));
const usageEvent = `data: ${JSON.stringify({ id: "cmpl-bench", object: "text_completion", created: 1, model, choices: [], usage: { prompt_tokens: 8, completion_tokens: STREAM_TOKENS, total_tokens: 8 + STREAM_TOKENS } })}\n\n`;
const models = JSON.stringify({
  object: "list",
  data: [{ id: model, object: "model", created: 1, owned_by: "bench", root: model, parent: null, max_model_len: 8192 }],
});
// cache_config_info tells a router the block size and hash algorithm its kv-prefix scorer keys blocks with.
const metrics =
  `vllm:num_requests_running{model_name="${model}"} 0\nvllm:num_requests_waiting{model_name="${model}"} 0\n` +
  `vllm:kv_cache_usage_perc{model_name="${model}"} 0.1\n` +
  `vllm:cache_config_info{block_size="${BLOCK_SIZE}",num_gpu_blocks="100000",enable_prefix_caching="True",prefix_caching_hash_algo="sha256"} 1\n`;

const tokenizer = tokenizerDir ? await ModelTokenizer.load(tokenizerDir) : undefined;
const publisher = tokenizer ? await KvEventPublisher.bind("127.0.0.1", 0, `kv@127.0.0.1:${port}@${model}`) : undefined;

/** When each document's blocks were last announced, and what they are. */
const announced = new Map<string, { at: number; tokenIds: number[]; blockHashes: bigint[] }>();
const REANNOUNCE_MS = 1000;

/**
 * Publishes the full blocks of the prompt's document as one BlockStored event, unless it did within REANNOUNCE_MS.
 * The benchmark's long prompts are a document, then "\n\nQuestion ..." unique to the request; the one or two blocks
 * that tail would add are not announced, so the engine's own time stays tiny.
 */
function announceBlocks(body: Buffer): void {
  if (!tokenizer || !publisher || !body.includes("Question ")) return;
  const prompt = (JSON.parse(body.toString("utf8")) as { prompt?: unknown }).prompt;
  if (typeof prompt !== "string") return;
  const cut = prompt.indexOf("\n\nQuestion ");
  const document = cut < 0 ? prompt : prompt.slice(0, cut);
  const now = Date.now();
  let blocks = announced.get(document);
  if (blocks && now - blocks.at < REANNOUNCE_MS) return;
  if (!blocks) {
    if (announced.size >= 1000) return;
    const ids = tokenizer.completionTokenIds(document);
    const blockHashes = blockDigests(ids, BLOCK_SIZE, { algo: "sha256" }).map(digestKey);
    blocks = { at: now, tokenIds: ids.slice(0, blockHashes.length * BLOCK_SIZE), blockHashes };
    announced.set(document, blocks);
  }
  blocks.at = now;
  if (blocks.blockHashes.length === 0) return;
  publisher.publish([
    {
      type: "BlockStored",
      blockHashes: blocks.blockHashes,
      parentBlockHash: null,
      tokenIds: blocks.tokenIds,
      blockSize: BLOCK_SIZE,
      loraId: null,
      loraName: null,
    },
  ]);
}

const server = createServer((req, res) => {
  const url = req.url ?? "/";
  if (req.method === "GET") {
    if (url.startsWith("/v1/models"))
      return void res.writeHead(200, { "content-type": "application/json" }).end(models);
    if (url.startsWith("/metrics")) return void res.writeHead(200, { "content-type": "text/plain" }).end(metrics);
    if (url.startsWith("/get_model_info")) {
      return void res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ model_path: model, is_generation: true }));
    }
    if (url.startsWith("/get_server_info"))
      return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
    return void res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  }
  const parts: Buffer[] = [];
  req.on("data", (c: Buffer) => parts.push(c));
  req.on("end", () => {
    const body = Buffer.concat(parts);
    // Streaming requests carry "stream":true; a substring check avoids a parse the benchmark does not need.
    if (body.includes('"stream":true')) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const c of chunks) res.write(c);
      res.end(usageEvent + "data: [DONE]\n\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(completion) });
    res.end(completion);
    // After the answer: the events follow the prefill, and their cost is not in the engine's reply time.
    announceBlocks(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => {
  const kv = publisher ? ` kv-events ${publisher.endpoint}` : "";
  console.log(`canned engine ${model} on http://127.0.0.1:${(server.address() as { port: number }).port}${kv}`);
});
process.on("SIGTERM", () => {
  publisher?.close();
  server.close(() => process.exit(0));
});
