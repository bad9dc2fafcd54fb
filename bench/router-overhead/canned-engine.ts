// A minimal vLLM-shaped engine with canned answers, run as its own process: the overhead benchmark needs a backend
// whose own time is tiny and steady, so what the router adds is not hidden under engine noise.
// Usage: node --import tsx bench/router-overhead/canned-engine.ts <port> <model>
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? 0);
const model = process.argv[3] ?? "m";
const STREAM_TOKENS = 8;

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
const metrics = `vllm:num_requests_running{model_name="${model}"} 0\nvllm:num_requests_waiting{model_name="${model}"} 0\nvllm:kv_cache_usage_perc{model_name="${model}"} 0.1\n`;

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
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => {
  console.log(`canned engine ${model} on http://127.0.0.1:${(server.address() as { port: number }).port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
