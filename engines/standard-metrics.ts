// The engine-neutral `aibrix:*` metric names the runtime sidecar publishes beside an engine's own, per engine (the
// same renames as AIBrix's runtime), and the text transform that adds them to a Prometheus exposition.
import type { EngineKind } from "./metric-names.js";

export const STANDARD_RENAMES: Record<EngineKind, Readonly<Record<string, string>>> = {
  vllm: {
    "vllm:num_requests_waiting": "aibrix:queue_size",
    "vllm:gpu_cache_usage_perc": "aibrix:gpu_cache_usage_perc",
    "vllm:kv_cache_usage_perc": "aibrix:kv_cache_usage_perc",
    "vllm:prompt_tokens_total": "aibrix:prompt_tokens_total",
    "vllm:generation_tokens_total": "aibrix:generation_tokens_total",
    "vllm:time_to_first_token_seconds": "aibrix:time_to_first_token_seconds",
    "vllm:time_per_output_token_seconds": "aibrix:time_per_output_token_seconds",
    "vllm:e2e_request_latency_seconds": "aibrix:e2e_request_latency_seconds",
    "vllm:request_success_total": "aibrix:request_success_total",
  },
  sglang: {
    "sglang:num_queue_reqs": "aibrix:queue_size",
    "sglang:gen_throughput": "aibrix:generation_throughput",
    "sglang:prompt_tokens_total": "aibrix:prompt_tokens_total",
    "sglang:generation_tokens_total": "aibrix:generation_tokens_total",
    "sglang:time_to_first_token_seconds": "aibrix:time_to_first_token_seconds",
    "sglang:time_per_output_token_seconds": "aibrix:time_per_output_token_seconds",
    "sglang:e2e_request_latency_seconds": "aibrix:e2e_request_latency_seconds",
    "sglang:cache_hit_rate": "aibrix:cache_hit_rate",
    "sglang:token_usage": "aibrix:token_usage",
  },
};

/** Suffixes a sample of a family may carry (histograms, summaries, counters' `_created`). */
const SUFFIXES = ["", "_bucket", "_sum", "_count", "_created", "_total"];

function renameOne(name: string, renames: Readonly<Record<string, string>>): string | undefined {
  for (const suffix of SUFFIXES) {
    if (suffix && !name.endsWith(suffix)) continue;
    const base = suffix ? name.slice(0, -suffix.length) : name;
    const to = renames[base];
    if (to) return to + suffix;
  }
  return undefined;
}

/**
 * The exposition unchanged, followed by a copy of every family that has a standard name, under that name (HELP and
 * TYPE lines included). Lines are handled one at a time, so a large scrape is never parsed into objects.
 */
export function withStandardNames(text: string, engine: EngineKind): string {
  const renames = STANDARD_RENAMES[engine];
  const copies: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
      const rest = line.slice(7);
      const space = rest.indexOf(" ");
      const name = space < 0 ? rest : rest.slice(0, space);
      // A counter family `x` (TYPE line) is sampled as `x_total`; the rename is keyed by the sample name.
      const counter = renames[`${name}_total`];
      const to = renames[name] ?? renameOne(name, renames) ?? (counter ? counter.replace(/_total$/, "") : undefined);
      if (to) copies.push(`${line.slice(0, 7)}${to}${space < 0 ? "" : rest.slice(space)}`);
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const end = line.search(/[{ ]/);
    const name = end < 0 ? line : line.slice(0, end);
    const to = renameOne(name, renames);
    if (to) copies.push(to + line.slice(name.length));
  }
  const body = text.endsWith("\n") || text === "" ? text : `${text}\n`;
  return copies.length === 0 ? body : `${body}${copies.join("\n")}\n`;
}
