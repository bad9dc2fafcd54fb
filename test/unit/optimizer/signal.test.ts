import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { decodeTrace, encodeTrace, traceKey } from "../../../api/workload-signal.js";
import { WorkloadSignal } from "../../../router/metrics/workload-signal.js";
import { RouterMetricsSource } from "../../../optimizer/signal-sources.js";

describe("workload signal", () => {
  it("writes upstream's trace layout and reads any precision back as bucket keys", () => {
    expect(traceKey("llama", 1_700_000_007)).to.equal("aibrix:llama_request_trace_1700000000");
    const text = encodeTrace({ "7-4": 3, "10-8": 1 }, 10);
    expect(JSON.parse(text)).to.deep.include({ "7:4": 3, "10:8": 1, meta_v: 3, meta_precision: 1, meta_total_reqs: 4 });
    expect(decodeTrace(text)).to.deep.equal({ counts: { "7-4": 3, "10-8": 1 }, intervalSeconds: 10 });
    // The gateway's precision-10 keys: 70:40 is log2 7.0 / 4.0.
    expect(
      decodeTrace('{"70:40": 2, "71:39": 1, "meta_v": 3, "meta_precision": 10, "meta_interval_sec": 5}'),
    ).to.deep.equal({ counts: { "7-4": 3 }, intervalSeconds: 5 });
    expect(() => decodeTrace('{"7-4": 1}')).to.throw(/key "7-4": must be "<int>:<int>"/);
    expect(() => decodeTrace('{"7:4": -1}')).to.throw(/\["7:4"\] -1: must be a count/);
  });

  it("counts requests that end with 200 by the engine's usage, else the prompt estimate and streamed tokens", async () => {
    const signal = new WorkloadSignal();
    const flowControl = signal.wrap(undefined);
    // Wrapping the pass-through keeps it one: the request path then makes no abort signal per request.
    expect(flowControl.passesAll).to.equal(true);
    const limiting = { acquire: flowControl.acquire, close: async () => {} };
    expect(signal.wrap(limiting).passesAll).to.equal(false);
    const ask = async (promptTokens: number) => {
      const d = await flowControl.acquire(
        { id: "r", model: "m", promptTokens, headers: {} },
        new AbortController().signal,
      );
      if (!d.ok) throw new Error("rejected");
      return d.ticket;
    };
    (await ask(100)).finish({ status: 200, usage: { prompt_tokens: 128, completion_tokens: 16 } });
    const streamed = await ask(130);
    streamed.onCompletionTokens(10);
    streamed.onCompletionTokens(6);
    streamed.finish({ status: 200 });
    (await ask(128)).finish({ status: 502 });
    const registry = new Registry();
    signal.publishOn(registry);
    const text = await registry.metrics();
    expect(text).to.contain('aibrix_router_workload_requests_total{model="m",bucket="7-4"} 2');
    expect(text).not.to.contain("502");
    await signal.close();
  });

  it("turns counter growth between router scrapes into one point per model; a router down gives no point", async () => {
    let body = 'aibrix_router_workload_requests_total{model="m",bucket="7-4"} 5\n';
    let up = true;
    const server = http.createServer((_req, res) => {
      if (!up) return void res.writeHead(503).end();
      res.writeHead(200, { "content-type": "text/plain" }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const source = new RouterMetricsSource([url]);
      expect((await source.poll(["m"], 100)).size, "first scrape is a baseline").to.equal(0);
      body =
        'aibrix_router_workload_requests_total{model="m",bucket="7-4"} 9\n' +
        'aibrix_router_workload_requests_total{model="x",bucket="1-1"} 3\n';
      const second = await source.poll(["m"], 110);
      expect(second.get("m")).to.deep.equal([{ time: 110, counts: { "7-4": 4 } }]);
      expect(second.has("x")).to.equal(false);
      up = false;
      expect((await source.poll(["m"], 120)).size).to.equal(0);
      expect(source.lastErrors[0]).to.match(/router http.*HTTP 503/);
      up = true;
      const quiet = await source.poll(["m"], 130);
      expect(quiet.get("m")).to.deep.equal([{ time: 130, counts: {} }]);
      expect(() => new RouterMetricsSource(["router:8888"])).to.throw(/must be an http\(s\) URL/);
    } finally {
      server.close();
    }
  });
});
