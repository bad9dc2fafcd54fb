// Load generator for the capacity benchmark, run as a separate process so its CPU does not count against the
// simulator's event loop. Opens `streams` concurrent streaming completions and keeps that many open for `seconds`
// (each finished stream is replaced), then reports counts as one JSON line on stdout.
import http from "node:http";

const [url, streamsArg, secondsArg, maxTokensArg] = process.argv.slice(2);
if (!url || !streamsArg || !secondsArg || !maxTokensArg) {
  console.error("usage: client.ts <url> <streams> <seconds> <max_tokens>");
  process.exit(2);
}
const target = new URL(url);
const streams = Number(streamsArg);
const seconds = Number(secondsArg);
const maxTokens = Number(maxTokensArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const deadline = Date.now() + seconds * 1000;

let open = 0;
let maxOpen = 0;
let completed = 0;
let failed = 0;
let chunks = 0;
let streamed = 0;
const openSamples: number[] = [];

function start(i: number): void {
  if (Date.now() >= deadline) return;
  const body = JSON.stringify({
    model: "m",
    prompt: `stream ${i} asks a question of moderate length about capacity planning for inference`,
    max_tokens: maxTokens,
    stream: true,
  });
  open++;
  maxOpen = Math.max(maxOpen, open);
  let gotFirst = false;
  const req = http.request(
    {
      host: target.hostname,
      port: target.port,
      path: "/v1/completions",
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
    },
    (res) => {
      res.on("data", (d: Buffer) => {
        if (!gotFirst) {
          gotFirst = true;
          streamed++;
        }
        // Count SSE events cheaply: each ends with a blank line.
        let at = d.indexOf("\n\n");
        while (at >= 0) {
          chunks++;
          at = d.indexOf("\n\n", at + 2);
        }
      });
      res.on("end", () => {
        open--;
        if (res.statusCode === 200) completed++;
        else failed++;
        start(i);
      });
    },
  );
  req.on("error", () => {
    open--;
    failed++;
  });
  req.end(body);
}

for (let i = 0; i < streams; i++) start(i);
const sampler = setInterval(() => openSamples.push(open), 500);
setTimeout(() => {
  clearInterval(sampler);
  process.stdout.write(JSON.stringify({ maxOpen, completed, failed, chunks, streamed, openSamples }) + "\n");
  agent.destroy();
  process.exit(0);
}, seconds * 1000);
