// vLLM block keys of the overhead benchmark's long prompts (eight ~2,500-token documents, a tail each request
// varies) at the canned engines' block size: hashed in full per request versus through the router's block-key cache,
// alternating arms so load drift hits both alike. CPU time of this process per prompt; both arms' keys are checked
// equal first. Run under `node --cpu-prof` (via tsx) to see where the time goes.
//   npx tsx bench/router-overhead/block-keys-long.ts [prompts] [rounds] [sha256|sha256_cbor]
import os from "node:os";
import { blockKeys, isPrefixHashAlgo } from "../../api/block-hash.js";
import { BlockKeyCache } from "../../api/block-key-cache.js";
import { ModelTokenizer } from "../../api/model-tokenizer.js";
import { SIMULATOR_TOKENIZER_DIR } from "../../simulator/index.js";
import { median } from "../lib/stats.js";
import { longRequest } from "./workload.js";

const BLOCK_SIZE = 16;
const [count = "400", rounds = "3", algo = "sha256"] = process.argv.slice(2);
if (!isPrefixHashAlgo(algo)) throw new Error(`hash algorithm ${algo}: expected sha256 or sha256_cbor`);
const tok = await ModelTokenizer.load(SIMULATOR_TOKENIZER_DIR);
const prompts = Array.from({ length: Number(count) }, (_, i) => {
  const body = JSON.parse(longRequest(i).body) as { prompt: string };
  return tok.completionTokenIds(body.prompt);
});
const cache = new BlockKeyCache(48 * 1024 * 1024);
for (const ids of prompts.slice(0, 16)) {
  if (cache.keys(ids, BLOCK_SIZE, { algo }).join() !== blockKeys(ids, BLOCK_SIZE, { algo }).join()) {
    throw new Error("cached and uncached keys differ");
  }
}
const arms = {
  uncached: (ids: number[]) => blockKeys(ids, BLOCK_SIZE, { algo }),
  cached: (ids: number[]) => cache.keys(ids, BLOCK_SIZE, { algo }),
};
const ms: Record<string, number[]> = { uncached: [], cached: [] };
for (let r = 0; r < Number(rounds); r++) {
  for (const [name, keys] of Object.entries(arms)) {
    const t0 = process.cpuUsage();
    for (const ids of prompts) keys(ids);
    const used = process.cpuUsage(t0);
    ms[name]!.push((used.user + used.system) / 1000 / prompts.length);
  }
}
console.log(
  `${algo}, block size ${BLOCK_SIZE}; ${prompts[0]!.length} tokens a prompt; cache ${cache.hits} hits, ` +
    `${cache.misses} misses, ${(cache.bytes / 1024 / 1024).toFixed(1)} MiB; load ${os.loadavg()[0]!.toFixed(2)}`,
);
for (const [name, xs] of Object.entries(ms)) {
  console.log(`${name.padEnd(8)} ${median(xs).toFixed(3)} ms CPU a prompt (${xs.map((x) => x.toFixed(3)).join(", ")})`);
}
