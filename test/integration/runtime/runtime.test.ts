// The runtime sidecar against real parts: moto as the S3 server, a local server laid out as the hub's API, and the
// simulator as the engine (its /v1/load_lora_adapter is vLLM's).
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loadThroughRuntime, unloadThroughRuntime } from "../../../engines/runtime-client.js";
import { startRuntime, type RunningRuntime } from "../../../runtime/index.js";
import { startSimulator, type RunningSimulator } from "../../../simulator/index.js";
import { startHub, startMoto, type FakeHub, type Moto } from "../../support/artifact-servers.js";

const CREDS = { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_REGION: "us-east-1" };

describe("runtime sidecar: adapters and models from S3 and the hub, loaded on the engine", function () {
  this.timeout(120_000);
  let moto: Moto;
  let hub: FakeHub;
  let engine: RunningSimulator;
  let runtime: RunningRuntime;
  let dir: string;
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  const weights = randomBytes(3 * 1024 * 1024 + 17);
  const hubWeights = randomBytes(2 * 1024 * 1024 + 5);

  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${runtime.url}${p}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  };
  const engineAdapters = async () =>
    ((await (await fetch(`${engine.url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id);

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-runtime-"));
    [moto, hub, engine] = await Promise.all([
      startMoto(),
      startHub(
        {
          "acme/tiny-lora": [
            { path: "adapter_config.json", data: Buffer.from('{"r": 8}') },
            { path: "adapter_model.safetensors", data: hubWeights, lfs: true },
            { path: "nested/README.md", data: Buffer.from("# tiny") },
          ],
          "acme/tampered": [{ path: "model.safetensors", data: hubWeights, lfs: true, tamper: true }],
          "acme/big": [{ path: "model.bin", data: randomBytes(1 << 20), lfs: true, repeat: 256 }],
          "acme/slow": [{ path: "adapter_model.safetensors", data: Buffer.from("slow"), hold: held }],
        },
        "hf_secret",
      ),
      startSimulator({ model: "base", maxLoras: 4 }),
    ]);
    const s3 = new S3Client({
      region: "us-east-1",
      endpoint: moto.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    });
    await s3.send(new CreateBucketCommand({ Bucket: "adapters" }));
    await s3.send(new PutObjectCommand({ Bucket: "adapters", Key: "loras/a1/adapter_config.json", Body: '{"r": 16}' }));
    await s3.send(
      new PutObjectCommand({ Bucket: "adapters", Key: "loras/a1/adapter_model.safetensors", Body: weights }),
    );
    await s3.send(new PutObjectCommand({ Bucket: "adapters", Key: "loras/a1-other/x.bin", Body: "not mine" }));
    s3.destroy();
    runtime = await startRuntime({
      host: "127.0.0.1",
      port: 0,
      engine: "vllm",
      engineEndpoint: engine.url,
      adapterDir: path.join(dir, "adapters"),
      modelDir: path.join(dir, "models"),
      fetch: { hubEndpoint: hub.endpoint, hubToken: "hf_secret", concurrency: 2 },
      maxConcurrentDownloads: 1,
      maxQueued: 1,
    });
  });

  after(async () => {
    await runtime?.close();
    await Promise.all([moto?.stop(), hub?.close(), engine?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("healthz and ready answer while the engine is up", async () => {
    expect(await call("GET", "/healthz")).to.deep.equal({ status: 200, text: '{"status":"ok"}' });
    expect(await call("GET", "/ready")).to.deep.equal({ status: 200, text: '{"status":"ready"}' });
  });

  it("delegated load from s3:// (moto): the prefix's files land byte for byte, the engine serves the adapter", async () => {
    const r = await loadThroughRuntime(runtime.url, {
      loraName: "a1",
      artifactUrl: "s3://adapters/loras/a1",
      credentials: CREDS,
      additionalConfig: { AWS_ENDPOINT_URL: moto.endpoint },
    });
    expect(r, r.message).to.deep.include({ ok: true, status: 200 });
    expect(r.message).to.equal("Success: LoRA adapter 'a1' added successfully.");
    const local = path.join(dir, "adapters", "a1");
    expect(readFileSync(path.join(local, "adapter_model.safetensors")).equals(weights)).to.equal(true);
    expect(readFileSync(path.join(local, "adapter_config.json"), "utf8")).to.equal('{"r": 16}');
    expect(existsSync(path.join(local, "x.bin"))).to.equal(false); // a1-other is another prefix
    expect(await engineAdapters()).to.include("a1");
  });

  it("unload: the engine drops it and the downloaded files are removed", async () => {
    const r = await unloadThroughRuntime(runtime.url, "a1");
    expect(r.ok, r.message).to.equal(true);
    expect(await engineAdapters()).to.not.include("a1");
    expect(existsSync(path.join(dir, "adapters", "a1"))).to.equal(false);
  });

  it("direct load with lora_path (upstream's first form) goes to the engine as given", async () => {
    const local = path.join(dir, "direct");
    mkdirSync(local);
    writeFileSync(path.join(local, "adapter_config.json"), "{}");
    const r = await call("POST", "/v1/lora_adapter/load", { lora_name: "direct", lora_path: local });
    expect(r.status, r.text).to.equal(200);
    expect(await engineAdapters()).to.include("direct");
    expect((await call("POST", "/v1/lora_adapter/unload", { lora_name: "direct" })).status).to.equal(200);
    expect(existsSync(local)).to.equal(true); // not ours to delete
  });

  it("wrong S3 credentials: a clear error, nothing loaded", async () => {
    const r = await loadThroughRuntime(runtime.url, {
      loraName: "nobucket",
      artifactUrl: "s3://missing-bucket/x",
      credentials: CREDS,
      additionalConfig: { AWS_ENDPOINT_URL: moto.endpoint },
    });
    expect(r.ok).to.equal(false);
    expect(r.status).to.equal(502);
    expect(r.message).to.match(/bucket/i);
    expect(await engineAdapters()).to.not.include("nobucket");
  });

  it("hf:// through HF_ENDPOINT: paginated listing, redirects followed, LFS sha256 checked, token sent", async () => {
    const r = await call("POST", "/v1/lora_adapter/load", { lora_name: "tiny", artifact_url: "hf://acme/tiny-lora" });
    expect(r.status, r.text).to.equal(200);
    const local = path.join(dir, "adapters", "tiny");
    expect(readFileSync(path.join(local, "adapter_model.safetensors")).equals(hubWeights)).to.equal(true);
    expect(readFileSync(path.join(local, "nested", "README.md"), "utf8")).to.equal("# tiny");
    expect(hub.requests.filter((x) => x.includes("/tree/main")).length).to.equal(2); // 3 files, 2 per page
    expect(hub.requests.some((x) => x.startsWith("GET /acme/tiny-lora/resolve/main/"))).to.equal(true);
  });

  it("model download: accepted at once, listed as downloading then downloaded; a resumed file fetches only the rest", async () => {
    const target = path.join(dir, "models", "tiny-lora");
    mkdirSync(target, { recursive: true });
    writeFileSync(path.join(target, "adapter_model.safetensors.part"), hubWeights.subarray(0, 1024 * 1024));
    const before = hub.servedBytes();
    const r = await call("POST", "/v1/model/download", { model_uri: "huggingface://acme/tiny-lora" });
    expect(r.status, r.text).to.equal(200);
    expect(JSON.parse(r.text)).to.deep.include({ model_name: "tiny-lora", status: "downloading" });
    let list: { models: { model_name: string; status: string; error?: string }[] } = { models: [] };
    for (let i = 0; i < 100; i++) {
      list = JSON.parse((await call("GET", "/v1/model/list")).text) as typeof list;
      if (list.models[0]?.status !== "downloading") break;
      await sleep(100);
    }
    expect(list.models[0]).to.deep.include({ model_name: "tiny-lora", status: "downloaded" });
    expect(readFileSync(path.join(target, "adapter_model.safetensors")).equals(hubWeights)).to.equal(true);
    const served = hub.servedBytes() - before;
    expect(served).to.equal(hubWeights.length - 1024 * 1024 + '{"r": 8}'.length + "# tiny".length);
  });

  it("a 256 MiB file streams to disk with flat memory and its sha256 checked", async function () {
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      await call("POST", "/v1/model/download", { model_uri: "hf://acme/big" });
      let status = "downloading";
      for (let i = 0; i < 600 && status === "downloading"; i++) {
        await sleep(100);
        const list = JSON.parse((await call("GET", "/v1/model/list")).text) as {
          models: { model_name: string; status: string; error?: string }[];
        };
        const m = list.models.find((x) => x.model_name === "big")!;
        status = m.status;
        if (status === "failed") throw new Error(m.error);
      }
      expect(status).to.equal("downloaded");
    } finally {
      clearInterval(sampler);
    }
    const { size } = statSync(path.join(dir, "models", "big", "model.bin"));
    expect(size).to.equal(256 << 20);
    // Server, client and sidecar share this process: all of it grew by far less than the file.
    expect(peak - rss0, `RSS grew ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`).to.be.below(64 << 20);
  });

  it("a file whose bytes do not match the listed sha256 fails the download by name", async () => {
    await call("POST", "/v1/model/download", { model_uri: "hf://acme/tampered", model_name: "tampered" });
    let entry: { status: string; error?: string } | undefined;
    for (let i = 0; i < 100; i++) {
      const list = JSON.parse((await call("GET", "/v1/model/list")).text) as {
        models: { model_name: string; status: string; error?: string }[];
      };
      entry = list.models.find((m) => m.model_name === "tampered");
      if (entry?.status !== "downloading") break;
      await sleep(100);
    }
    expect(entry?.status).to.equal("failed");
    expect(entry?.error).to.match(/^model\.safetensors: sha256 [0-9a-f]{64} does not match the source's [0-9a-f]{64}$/);
  });

  it("bad requests get a 4xx naming the field and the rule", async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ lora_path: "/x" }, 400, /^lora_name: required$/],
      [{ lora_name: "../etc", lora_path: "/x" }, 400, /^lora_name: "..\/etc" must match/],
      [{ lora_name: "a" }, 400, /^lora_path or artifact_url: one is required$/],
      [{ lora_name: "a", lora_path: "/x", artifact_url: "s3://b-1/x" }, 400, /give one, not both/],
      [{ lora_name: "a", artifact_url: "ftp://x/y" }, 400, /unsupported scheme "ftp"/],
      [{ lora_name: 5, lora_path: "/x" }, 400, /^lora_name: must be a string$/],
      ["[1,2]", 400, /not a JSON object/],
      ["x".repeat(2 << 20), 413, /request body over/],
    ];
    for (const [body, status, message] of cases) {
      const r = await call("POST", "/v1/lora_adapter/load", body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).to.equal(status);
      expect((JSON.parse(r.text) as { error: { message: string } }).error.message).to.match(message);
    }
    expect((await call("GET", "/nope")).status).to.equal(404);
  });

  it("downloads are capped: one runs, one waits, the next is refused with 429 while others stay served", async () => {
    const loads = ["slow-1", "slow-2", "slow-3"].map((name) =>
      call("POST", "/v1/lora_adapter/load", { lora_name: name, artifact_url: "hf://acme/slow" }),
    );
    await sleep(300);
    expect((await call("GET", "/healthz")).status).to.equal(200);
    release();
    const answers = await Promise.all(loads);
    expect(answers.map((a) => a.status).sort()).to.deep.equal([200, 200, 429]);
    const refused = answers.find((a) => a.status === 429)!;
    expect((JSON.parse(refused.text) as { error: { message: string } }).error.message).to.equal(
      "too many downloads queued; retry later",
    );
  });

  it("/metrics: the engine's metrics, their aibrix:* copies, and the runtime's own", async () => {
    const text = (await call("GET", "/metrics")).text;
    expect(text).to.match(/^vllm:num_requests_waiting\{[^}]*\} \d/m);
    expect(text).to.match(/^aibrix:queue_size\{[^}]*\} \d/m);
    expect(text).to.match(/^aibrix:gpu_cache_usage_perc|^aibrix:kv_cache_usage_perc/m);
    expect(text).to.match(/^aibrix_runtime_artifact_downloads_total\{scheme="s3",result="ok"\} 1$/m);
    expect(text).to.match(/^aibrix_runtime_artifact_downloads_total\{scheme="hf",result="ok"\} [1-9]\d*$/m);
  });

  it("not ready, with the reason, when the engine is gone; health stays up", async () => {
    const lonely = await startRuntime({
      host: "127.0.0.1",
      port: 0,
      engine: "vllm",
      engineEndpoint: "http://127.0.0.1:9",
    });
    try {
      const res = await fetch(`${lonely.url}/ready`);
      expect(res.status).to.equal(503);
      expect(((await res.json()) as { reason: string }).reason).to.match(/^engine http:\/\/127\.0\.0\.1:9 unreachable/);
      expect((await fetch(`${lonely.url}/healthz`)).status).to.equal(200);
      expect((await fetch(`${lonely.url}/metrics`)).status).to.equal(200);
    } finally {
      await lonely.close();
    }
  });
});
