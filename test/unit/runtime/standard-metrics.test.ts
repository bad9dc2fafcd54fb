import { expect } from "chai";
import { parsePrometheusText } from "../../../engines/prometheus.js";
import { withStandardNames } from "../../../engines/standard-metrics.js";
import { parseArtifactUrl, safeRelative } from "../../../runtime/artifacts/source.js";

const VLLM = `# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 5.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{model_name="m"} 1000.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 3.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 4.0
vllm:time_to_first_token_seconds_sum{model_name="m"} 0.9
vllm:time_to_first_token_seconds_count{model_name="m"} 4.0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 2.0
`;

describe("runtime: standard aibrix:* metric names", () => {
  it("vLLM: keeps every engine metric and adds the renamed copies, histograms whole", () => {
    const out = withStandardNames(VLLM, "vllm");
    expect(out.startsWith(VLLM)).to.equal(true);
    const samples = parsePrometheusText(out);
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value("aibrix:queue_size")).to.equal(5);
    expect(value("aibrix:prompt_tokens_total")).to.equal(1000);
    expect(value("aibrix:time_to_first_token_seconds_bucket", { le: "+Inf" })).to.equal(4);
    expect(value("aibrix:time_to_first_token_seconds_count")).to.equal(4);
    expect(value("vllm:num_requests_running")).to.equal(2);
    expect(samples.some((s) => s.name.startsWith("aibrix:num_requests_running"))).to.equal(false);
    expect(out).to.include("# TYPE aibrix:queue_size gauge");
    expect(out).to.include("# TYPE aibrix:time_to_first_token_seconds histogram");
  });

  it("a counter family typed without _total still gets its TYPE line; SGLang names map too", () => {
    const out = withStandardNames("# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total 7\n", "vllm");
    expect(out).to.include("# TYPE aibrix:prompt_tokens counter\naibrix:prompt_tokens_total 7\n");
    const sg = withStandardNames(
      "sglang:num_queue_reqs 3\nsglang:gen_throughput 120.5\nsglang:token_usage 0.4\n",
      "sglang",
    );
    expect(sg).to.include("aibrix:queue_size 3\naibrix:generation_throughput 120.5\naibrix:token_usage 0.4\n");
    expect(withStandardNames("", "vllm")).to.equal("");
  });
});

describe("runtime: artifact URLs", () => {
  it("parses upstream's schemes and names what is wrong", () => {
    expect(parseArtifactUrl("s3://my-bucket/adapters/a1")).to.deep.equal({
      kind: "s3",
      scheme: "s3",
      bucket: "my-bucket",
      prefix: "adapters/a1",
    });
    expect(parseArtifactUrl("tos://b-1/x").kind).to.equal("s3");
    expect(parseArtifactUrl("gcs://b-1").kind).to.equal("s3");
    expect(parseArtifactUrl("hf://org/name@v1.0/sub/dir")).to.deep.equal({
      kind: "hub",
      repo: "org/name",
      revision: "v1.0",
      subpath: "sub/dir",
    });
    expect(parseArtifactUrl("huggingface://org/name")).to.deep.include({ revision: "main", subpath: "" });
    expect(parseArtifactUrl("/models/a1")).to.deep.equal({ kind: "local", path: "/models/a1" });
    expect(parseArtifactUrl("file:///models/a1")).to.deep.equal({ kind: "local", path: "/models/a1" });
    expect(() => parseArtifactUrl("ftp://x/y")).to.throw('unsupported scheme "ftp"');
    expect(() => parseArtifactUrl("relative/path")).to.throw(/use s3:\/\//);
    expect(() => parseArtifactUrl("s3://A_B/x")).to.throw('bucket "A_B" is not a valid bucket name');
    expect(() => parseArtifactUrl("hf://org")).to.throw("expected hf://<org>/<name>");
    expect(() => parseArtifactUrl("hf://org/name/../../etc")).to.throw('".." is not allowed');
  });

  it("never writes outside the destination", () => {
    for (const bad of ["", "/etc/passwd", "../x", "a/../../x", "./a"]) expect(safeRelative(bad), bad).to.equal(false);
    expect(safeRelative("a/b.safetensors")).to.equal(true);
  });
});
