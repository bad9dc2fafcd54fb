import { expect } from "chai";
import { parseEngineMetrics } from "../../../engines/metric-names.js";
import { parsePrometheusText, PrometheusParseError } from "../../../engines/prometheus.js";

const VLLM = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
vllm:num_requests_waiting{engine="0",model_name="m"} 7.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.5
vllm:prompt_tokens_total{model_name="m"} 1000
vllm:generation_tokens_total{model_name="m"} 400
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 4
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 10
vllm:time_to_first_token_seconds_sum{model_name="m"} 2.5
vllm:time_to_first_token_seconds_count{model_name="m"} 10
vllm:inter_token_latency_seconds_sum{model_name="m"} 1
vllm:inter_token_latency_seconds_count{model_name="m"} 50
vllm:lora_requests_info{max_lora="4",running_lora_adapters="a,b",waiting_lora_adapters=""} 1.7e9
vllm:lora_requests_info{max_lora="4",running_lora_adapters="c",waiting_lora_adapters="d"} 1.8e9
vllm:cache_config_info{block_size="16",num_gpu_blocks="2048"} 1
`;

describe("Prometheus text parsing", () => {
  it("reads names, labels (with escapes) and special values", () => {
    const s = parsePrometheusText('a{x="q\\"uote",y="new\\nline"} 1.5\nb +Inf\nc NaN 1700000000\n# comment\n\n');
    expect(s).to.have.length(3);
    expect(s[0]).to.deep.equal({ name: "a", labels: { x: 'q"uote', y: "new\nline" }, value: 1.5 });
    expect(s[1]!.value).to.equal(Infinity);
    expect(Number.isNaN(s[2]!.value)).to.equal(true);
  });

  it("skips unwanted names without parsing them", () => {
    const s = parsePrometheusText('keep 1\nskip{broken="} nonsense\n', (n) => n === "keep");
    expect(s.map((x) => x.name)).to.deep.equal(["keep"]);
  });

  it("names the line and value of a malformed sample", () => {
    expect(() => parsePrometheusText("ok 1\nbad twelve\n")).to.throw(
      PrometheusParseError,
      /line 2: sample "bad" has value "twelve"/,
    );
    expect(() => parsePrometheusText('x{a="1" 2\n')).to.throw(PrometheusParseError, /line 1/);
  });
});

describe("engine metric maps", () => {
  it("reduces a vLLM scrape: counts add across ranks, usage takes the fullest rank, histograms give means", () => {
    const m = parseEngineMetrics(VLLM, "vllm");
    expect(m.running).to.equal(5);
    expect(m.waiting).to.equal(7);
    expect(m.kvUsage).to.equal(0.5);
    expect(m.promptTokensTotal).to.equal(1000);
    expect(m.meanTtft).to.equal(0.25);
    expect(m.meanTpot).to.equal(0.02);
    expect(m.lora).to.deep.equal({ maxLora: 4, running: ["c"], waiting: ["d"] });
    expect(m.blockSize).to.equal(16);
    expect(m.numGpuBlocks).to.equal(2048);
  });

  it("accepts the older vLLM cache gauge names", () => {
    const m = parseEngineMetrics("vllm:gpu_cache_usage_perc 0.4\nvllm:cpu_cache_usage_perc 0.1\n", "vllm");
    expect(m.kvUsage).to.equal(0.4);
    expect(m.cpuKvUsage).to.equal(0.1);
  });

  it("maps SGLang names", () => {
    const m = parseEngineMetrics(
      "sglang:num_running_reqs 4\nsglang:num_queue_reqs 2\nsglang:token_usage 0.7\nsglang:gen_throughput 850\nsglang:cache_hit_rate 0.3\n",
      "sglang",
    );
    expect(m).to.include({ running: 4, waiting: 2, kvUsage: 0.7, genThroughput: 850, cacheHitRate: 0.3 });
  });
});
