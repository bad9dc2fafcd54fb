// Open-loop load generator, run as its own process so its CPU is not the server's event loop: sends requests at a
// fixed rate over HTTPS keep-alive, whatever the answers' latency, and prints one JSON line of latency figures.
// Usage: tsx load.ts <args.json>   args: {url, caFile, rate, seconds, warmupSeconds, connections, requests}
import { readFileSync } from "node:fs";
import hdr from "hdr-histogram-js";
import { Agent, request } from "undici";

interface Args {
  url: string;
  caFile: string;
  rate: number;
  seconds: number;
  connections: number;
  warmupSeconds: number;
  requests: { method: "GET" | "POST"; path: string; body?: string }[];
}

const args = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as Args;
const agent = new Agent({
  connect: { ca: readFileSync(args.caFile, "utf8") },
  connections: args.connections,
  keepAliveTimeout: 60_000,
});
const histogram = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3,
});
const lagHistogram = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3,
});
const perSecond: { second: number; count: number; maxUs: number; sumUs: number }[] = [];
let sent = 0;
let errors = 0;
let non2xx = 0;

async function one(i: number, measured: boolean, second: number): Promise<void> {
  const spec = args.requests[i % args.requests.length]!;
  const start = process.hrtime.bigint();
  try {
    const res = await request(args.url + spec.path, {
      method: spec.method,
      body: spec.body,
      headers: spec.body ? { "content-type": "application/json" } : {},
      dispatcher: agent,
    });
    await res.body.arrayBuffer();
    if (res.statusCode !== 200) non2xx++;
  } catch {
    errors++;
  }
  const us = Number(process.hrtime.bigint() - start) / 1000;
  if (!measured) return;
  histogram.recordValue(Math.max(1, Math.round(us)));
  const bucket = (perSecond[second] ??= { second, count: 0, maxUs: 0, sumUs: 0 });
  bucket.count++;
  bucket.sumUs += us;
  bucket.maxUs = Math.max(bucket.maxUs, us);
}

async function main(): Promise<void> {
  const total = Math.round(args.rate * (args.seconds + args.warmupSeconds));
  const warmup = Math.round(args.rate * args.warmupSeconds);
  const intervalNs = 1e9 / args.rate;
  const started = process.hrtime.bigint();
  const pending: Promise<void>[] = [];
  while (sent < total) {
    const elapsedNs = Number(process.hrtime.bigint() - started);
    const due = Math.min(total, Math.floor(elapsedNs / intervalNs) + 1);
    while (sent < due) {
      // How late this send is against its slot: the generator's own lag, reported apart from server latency.
      const lateUs = (elapsedNs - sent * intervalNs) / 1000;
      if (sent >= warmup) lagHistogram.recordValue(Math.max(1, Math.round(lateUs)));
      const measured = sent >= warmup;
      const second = Math.floor((sent - warmup) / args.rate);
      pending.push(one(sent, measured, second));
      sent++;
    }
    const nextNs = sent * intervalNs - Number(process.hrtime.bigint() - started);
    await new Promise((r) => setTimeout(r, Math.max(0, Math.floor(nextNs / 1e6))));
  }
  await Promise.all(pending);
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const ms = (p: number) => histogram.getValueAtPercentile(p) / 1000;
  process.stdout.write(
    JSON.stringify({
      measured: histogram.totalCount,
      errors,
      non2xx,
      achievedRate: total / wallS,
      p50: ms(50),
      p90: ms(90),
      p99: ms(99),
      p999: ms(99.9),
      max: histogram.maxValue / 1000,
      mean: histogram.mean / 1000,
      senderLagP99Ms: lagHistogram.getValueAtPercentile(99) / 1000,
      perSecond: perSecond.map((b) => ({
        second: b.second,
        count: b.count,
        meanMs: b.sumUs / b.count / 1000,
        maxMs: b.maxUs / 1000,
      })),
    }) + "\n",
  );
  await agent.close();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
