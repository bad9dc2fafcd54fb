import { expect } from "chai";
import { RouterMetrics } from "../../../../router/metrics/metrics.js";

describe("router metrics", () => {
  it("renders the per-request counter and histograms in Prometheus text with cumulative buckets", async () => {
    const m = new RouterMetrics();
    m.requests.inc("m", "200", "least-request");
    m.requests.inc("m", "200", "least-request");
    m.requests.inc("m", "503", "random");
    m.upstreamTtft.observe(0.02, "m");
    m.upstreamTtft.observe(0.02, "m");
    m.upstreamTtft.observe(50, "m");
    const text = await m.registry.metrics();
    expect(text).to.match(/aibrix_router_requests_total\{model="m",status="200",strategy="least-request"\} 2\n/);
    expect(text).to.match(/aibrix_router_requests_total\{model="m",status="503",strategy="random"\} 1\n/);
    expect(text).to.match(/aibrix_router_upstream_ttft_seconds_bucket\{model="m",le="0.01"\} 0\n/);
    expect(text).to.match(/aibrix_router_upstream_ttft_seconds_bucket\{model="m",le="0.025"\} 2\n/);
    expect(text).to.match(/aibrix_router_upstream_ttft_seconds_bucket\{model="m",le="30"\} 2\n/);
    expect(text).to.match(/aibrix_router_upstream_ttft_seconds_bucket\{model="m",le="\+Inf"\} 3\n/);
    expect(text).to.match(/aibrix_router_upstream_ttft_seconds_count\{model="m"\} 3\n/);
    expect(text).to.match(/aibrix_router_upstream_ttft_seconds_sum\{model="m"\} 50.04\n/);
    expect(text).to.include("# TYPE aibrix_router_routing_decision_seconds histogram");
  });

  it("keeps one series per distinct label values, in the order first seen", async () => {
    const m = new RouterMetrics();
    m.pluginSeconds.observe(0.000002, "scorer", "least-request");
    m.pluginSeconds.observe(0.000002, "filter", "least-request");
    m.pluginSeconds.observe(0.000002, "scorer", "least-request");
    m.requests.inc("a", "200", "s\u0000x");
    m.requests.inc("a", "200\u0000s", "x");
    const text = await m.registry.metrics();
    const counts = [...text.matchAll(/aibrix_router_picking_plugin_seconds_count\{(.*)\} (\d+)/g)].map((x) => [
      x[1],
      x[2],
    ]);
    expect(counts).to.deep.equal([
      ['kind="scorer",plugin="least-request"', "2"],
      ['kind="filter",plugin="least-request"', "1"],
    ]);
    expect(text.match(/aibrix_router_requests_total\{model="a"/g)).to.have.length(2);
  });
});
