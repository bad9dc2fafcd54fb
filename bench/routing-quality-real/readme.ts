import { atLeast, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { kvPrefixOverRandom: atLeast(2) };

const entry: ReadmeEntry = {
  context: (r) =>
    `two real vLLM ${String(r.params.vllm)} CPU engines (tiny model), shared-prefix workload, ${String(r.params.rounds)} rounds`,
  figures: [
    {
      key: "real_engine_hit_rate_kv_prefix",
      label: "engines' own prefix-cache hit rate with kv-prefix-load",
      digits: 3,
    },
    { key: "real_engine_hit_rate_prefix_cache", label: "with prefix-cache", digits: 3 },
    { key: "real_engine_hit_rate_random", label: "with random", digits: 3 },
    {
      key: "real_engine_kv_prefix_over_random",
      label: "kv-prefix-load over random",
      unit: "×",
      target: TARGETS.kvPrefixOverRandom,
    },
  ],
};
export default entry;
