// Two simulated engines over HTTP sharing one KV tier: a prompt one engine computed and evicted is loaded, not
// recomputed, by the other, and both announce the tier's blocks as KV events with medium CPU.
import { expect } from "chai";
import { decode } from "@msgpack/msgpack";
import { Subscriber } from "zeromq";
import { startSimulatorFleet, type RunningFleet } from "../../../simulator/index.js";
import { SharedKvTier } from "../../../simulator/shared-tier.js";

const words = (seed: string, n: number) => Array.from({ length: n }, (_, i) => `${seed}${i}`).join(" ");

describe("simulator fleet with a shared KV tier", function () {
  this.timeout(30_000);
  let fleet: RunningFleet;
  let sub: Subscriber;
  const tier = new SharedKvTier({ capacityBlocks: 1000, bytesPerBlock: 2 ** 21, bandwidthBytesPerSecond: 12.5e9 });

  before(async () => {
    fleet = await startSimulatorFleet({
      replicas: 2,
      model: "m",
      speedup: 50,
      numGpuBlocks: 12,
      maxModelLen: 192,
      kvEventsPort: 0,
      sharedTier: tier,
    });
    sub = new Subscriber({ receiveTimeout: 5000 });
    sub.connect(fleet.simulators[1]!.kvEventsEndpoint!);
    sub.subscribe("kv@");
    await new Promise((r) => setTimeout(r, 300));
  });
  after(async () => {
    sub.close();
    await fleet.close();
  });

  async function cachedTokens(engine: number, prompt: string): Promise<number> {
    const res = await fetch(`${fleet.simulators[engine]!.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", prompt, max_tokens: 1 }),
    });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { usage: { prompt_tokens_details: { cached_tokens: number } | null } };
    return body.usage.prompt_tokens_details?.cached_tokens ?? 0;
  }

  it("engine 1 loads from the tier what engine 0 evicted, and announces the tier with medium CPU", async () => {
    const doc = words("doc", 50);
    expect(await cachedTokens(0, doc)).to.equal(0);
    // Two other prompts fill engine 0's 12 blocks: the document's blocks go to the tier.
    await cachedTokens(0, words("other", 50));
    await cachedTokens(0, words("third", 50));
    expect(tier.size).to.be.greaterThan(0);
    const cached = await cachedTokens(1, doc);
    expect(cached).to.be.greaterThan(0);
    expect(cached % 16).to.equal(0);
    expect(tier.loadedBlocks).to.equal(cached / 16);
    // vLLM's connector counters say what the tier supplied; the GPU prefix counters do not count it.
    const metrics = await fleet.simulators[1]!.metricsText();
    const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(metrics)?.[1]);
    expect(value("vllm:external_prefix_cache_hits_total")).to.equal(cached);
    expect(value("vllm:prefix_cache_hits_total")).to.equal(0);

    const media = new Set<string>();
    for (;;) {
      const [, , payload] = await sub.receive().catch(() => [undefined, undefined, undefined]);
      if (!payload) break;
      const [, events] = decode(payload, { useBigInt64: true }) as [number, { type: string; medium?: string }[]];
      for (const e of events) if (e.type === "BlockStored" && e.medium) media.add(e.medium);
      if (media.has("CPU") && media.has("GPU")) break;
    }
    expect([...media].sort()).to.deep.equal(["CPU", "GPU"]);
  });
});
