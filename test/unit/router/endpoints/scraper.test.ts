import { expect } from "chai";
import { EndpointRegistry } from "../../../../router/endpoints/endpoints.js";
import { METRICS_IN_USE_FOR_MS, MetricsScraper } from "../../../../router/endpoints/scraper.js";
import { startFakeEngine, type FakeEngine } from "../fake-engine.js";

describe("metrics scraper", () => {
  let engine: FakeEngine;
  let registry: EndpointRegistry;
  let scraper: MetricsScraper;

  beforeEach(async () => {
    engine = await startFakeEngine("m", { kvUsage: 0.25 });
    registry = new EndpointRegistry({ connections: 1, connectTimeoutMs: 500 }, 200);
    registry.update([
      { id: engine.id, host: engine.host, port: engine.port, model: "m", adapters: [], engine: "vllm" },
    ]);
    scraper = new MetricsScraper(
      registry,
      { intervalMs: 20, idleIntervalMs: 400, modelsIntervalMs: 60_000, timeoutMs: 500 },
      () => {},
    );
  });
  afterEach(async () => {
    await scraper.close();
    await registry.close();
    await engine.close();
  });

  // Ticks every 20 ms of (driven) time from `from` to `to`.
  const ticks = async (from: number, to: number) => {
    for (let t = from; t <= to; t += 20) await scraper.tick(t);
  };

  it("polls on the idle interval until something routes on the metrics, then on the short one", async () => {
    const ep = registry.all()[0]!;
    await ticks(0, 380);
    expect(engine.metricsScrapes, "idle: the first tick, then nothing before 400 ms").to.equal(1);
    expect(ep.metrics.kvUsage).to.equal(0.25);
    await scraper.tick(400);
    expect(engine.metricsScrapes).to.equal(2);

    // A scorer asks whether the numbers are fresh: from the next tick on, every tick scrapes.
    engine.state.kvUsage = 0.75;
    ep.metricsFresh(410, registry.staleAfterMs);
    await ticks(420, 500);
    expect(engine.metricsScrapes).to.equal(7);
    expect(ep.metrics.kvUsage).to.equal(0.75);
    expect(scraper.inUse(ep, 500)).to.equal(true);

    // Nobody has read them for a minute: back to the idle interval.
    const later = 420 + METRICS_IN_USE_FOR_MS;
    expect(scraper.inUse(ep, later)).to.equal(false);
    await ticks(later, later + 380);
    expect(engine.metricsScrapes).to.equal(8);
  });

  it("keeps LoRA residency current for adapter requests, whose scorer reads the last numbers however old", async () => {
    const ep = registry.all()[0]!;
    await scraper.tick(0);
    ep.wantMetrics(10);
    await ticks(20, 100);
    expect(engine.metricsScrapes).to.equal(6);
  });
});
