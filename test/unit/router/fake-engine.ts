// A tiny in-process stand-in for an engine, for unit tests only: vLLM-shaped responses, settable /metrics numbers,
// and failure modes (refuse with a status, hang, die mid-stream).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeEngineState {
  running: number;
  waiting: number;
  kvUsage: number;
  /** Adapters listed in /v1/models. */
  adapters: string[];
  mode: "ok" | "status" | "hang" | "die-mid-stream" | "slow-metrics";
  failStatus: number;
  /** Tokens per streamed response. */
  tokens: number;
  tokenDelayMs: number;
  extraMetrics: string;
  /** `max_model_len` reported in /v1/models (absent when undefined). */
  maxModelLen?: number;
}

export interface FakeEngine {
  url: string;
  host: string;
  port: number;
  id: string;
  state: FakeEngineState;
  /** Requests received per path. */
  hits: { path: string; body: Record<string, unknown>; headers: IncomingMessage["headers"] }[];
  /** Streams whose client went away before the end. */
  cancelled: number;
  /** GET /metrics requests answered. */
  metricsScrapes: number;
  /** GET /health requests received. */
  healthChecks: number;
  close(): Promise<void>;
}

export async function startFakeEngine(model: string, init: Partial<FakeEngineState> = {}): Promise<FakeEngine> {
  const state: FakeEngineState = {
    running: 0,
    waiting: 0,
    kvUsage: 0,
    adapters: [],
    mode: "ok",
    failStatus: 500,
    tokens: 3,
    tokenDelayMs: 0,
    extraMetrics: "",
    ...init,
  };
  const hits: FakeEngine["hits"] = [];
  const engine = { state, hits, cancelled: 0, metricsScrapes: 0, healthChecks: 0 } as FakeEngine;
  const hanging = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0]!;
      if (req.method === "GET" && path === "/metrics") {
        if (state.mode === "slow-metrics") return;
        engine.metricsScrapes++;
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(
          [
            "# HELP vllm:num_requests_running Number of requests running.",
            "# TYPE vllm:num_requests_running gauge",
            `vllm:num_requests_running{model_name="${model}"} ${state.running}`,
            `vllm:num_requests_waiting{model_name="${model}"} ${state.waiting}`,
            `vllm:kv_cache_usage_perc{model_name="${model}"} ${state.kvUsage}`,
            state.extraMetrics,
          ].join("\n") + "\n",
        );
        return;
      }
      if (req.method === "GET" && path === "/health") {
        engine.healthChecks++;
        if (state.mode === "hang") return void hanging.add(res);
        return void res.writeHead(200).end();
      }
      if (req.method === "GET" && path === "/v1/models") {
        const data = [model, ...state.adapters].map((id) => ({
          id,
          object: "model",
          parent: id === model ? null : model,
          ...(id === model && state.maxModelLen ? { max_model_len: state.maxModelLen } : {}),
        }));
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data }));
        return;
      }
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      } catch {
        // left empty
      }
      hits.push({ path, body, headers: req.headers });
      if (state.mode === "hang") {
        hanging.add(res);
        return;
      }
      if (state.mode === "status") {
        const err = JSON.stringify({
          error: { message: "engine says no", type: "api_error", code: null, param: null },
        });
        res.writeHead(state.failStatus, { "content-type": "application/json" });
        res.end(err);
        return;
      }
      const id = `cmpl-${hits.length}`;
      if (body.stream === true) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        let i = 0;
        const tick = () => {
          if (res.destroyed) {
            engine.cancelled++;
            return;
          }
          if (state.mode === "die-mid-stream" && i === 1) {
            res.socket?.destroy();
            return;
          }
          if (i < state.tokens) {
            res.write(
              `data: ${JSON.stringify({ id, object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: `t${i}` } }] })}\n\n`,
            );
            i++;
            setTimeout(tick, state.tokenDelayMs);
            return;
          }
          const so = body.stream_options as { include_usage?: boolean } | undefined;
          if (so?.include_usage) {
            res.write(
              `data: ${JSON.stringify({ id, choices: [], usage: { prompt_tokens: 5, completion_tokens: state.tokens, total_tokens: 5 + state.tokens } })}\n\n`,
            );
          }
          res.end("data: [DONE]\n\n");
        };
        tick();
        return;
      }
      const out = JSON.stringify({
        id,
        object: path === "/v1/chat/completions" ? "chat.completion" : "text_completion",
        model: body.model,
        served_by: engine.id,
        choices: [{ index: 0, text: "hello", message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(out);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  engine.host = "127.0.0.1";
  engine.port = port;
  engine.id = `127.0.0.1:${port}`;
  engine.url = `http://127.0.0.1:${port}`;
  engine.close = async () => {
    for (const r of hanging) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return engine;
}
