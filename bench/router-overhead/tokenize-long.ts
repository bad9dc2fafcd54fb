// The model tokenizer's cost on the overhead benchmark's long prompts (eight ~2,500-token documents, a tail each
// request varies), cut into cached pieces as the router does versus encoded whole, alternating arms so load drift
// hits both alike. CPU time of this process per prompt; the ids of both arms are checked equal first.
//   npx tsx bench/router-overhead/tokenize-long.ts [prompts] [rounds]
import os from "node:os";
import { ModelTokenizer } from "../../api/model-tokenizer.js";
import { SIMULATOR_TOKENIZER_DIR } from "../../simulator/index.js";
import { median } from "../lib/stats.js";
import { LONG_DOCUMENTS } from "./workload.js";

const [count = "400", rounds = "3"] = process.argv.slice(2);
const tok = await ModelTokenizer.load(SIMULATOR_TOKENIZER_DIR);
const prompts = Array.from(
  { length: Number(count) },
  (_, i) => `${LONG_DOCUMENTS[i % LONG_DOCUMENTS.length]}\n\nQuestion ${i}: summarise the text above in one line.`,
);
for (const p of prompts.slice(0, 16)) {
  if (tok.completionTokenIds(p).join() !== tok.encodeWhole(p, true).join()) throw new Error("cut and whole ids differ");
}
const arms = { whole: (p: string) => tok.encodeWhole(p, true), cut: (p: string) => tok.completionTokenIds(p) };
const ms: Record<string, number[]> = { whole: [], cut: [] };
for (let r = 0; r < Number(rounds); r++) {
  for (const [name, encode] of Object.entries(arms)) {
    const t0 = process.cpuUsage();
    for (const p of prompts) encode(p);
    const used = process.cpuUsage(t0);
    ms[name]!.push((used.user + used.system) / 1000 / prompts.length);
  }
}
const tokens = tok.completionTokenIds(prompts[0]!).length;
console.log(
  `${tok.plainCuts.safe ? "plain cuts on" : "plain cuts off"}; ${tokens} tokens a prompt; load ${os.loadavg()[0]!.toFixed(2)}`,
);
for (const [name, xs] of Object.entries(ms)) {
  console.log(`${name.padEnd(6)} ${median(xs).toFixed(3)} ms CPU a prompt (${xs.map((x) => x.toFixed(3)).join(", ")})`);
}
