// The LoRA client against the vLLM-compatible simulator (real HTTP), plus the header and error cases an engine
// with --api-key and a stopped engine produce.
import { expect } from "chai";
import http from "node:http";
import { AdapterLoadError, enginePath, LoraClient, type EngineAddress } from "../../../engines/lora-client.js";
import { startSimulator, type RunningSimulator } from "../../../simulator/index.js";

describe("engines/lora-client", () => {
  let sim: RunningSimulator;
  let address: EngineAddress;
  const calls: string[] = [];
  const client = new LoraClient({ timeoutMs: 2_000, onCall: (what) => calls.push(what) });

  before(async () => {
    sim = await startSimulator({ host: "127.0.0.1", port: 0, model: "llama", maxLoras: 4, loraApiLoadMs: 0 });
    address = { host: "127.0.0.1", port: sim.port, engine: "vllm" };
  });
  after(() => sim.close());

  it("loads, lists, treats a second load and a missing unload as done, and unloads", async () => {
    await client.load(address, { name: "sql", artifactURL: "huggingface://org/sql-lora" });
    expect(await client.listModels(address)).to.deep.equal(["llama", "sql"]);
    await client.load(address, { name: "sql", artifactURL: "huggingface://org/sql-lora" }); // vLLM: 400 already loaded
    await client.unload(address, "sql");
    await client.unload(address, "sql"); // vLLM: 404 cannot be found
    expect(await client.listModels(address)).to.deep.equal(["llama"]);
    expect(calls).to.deep.equal(["load", "list", "load", "unload", "unload", "list"]);
  });

  it("gives the engine the hub id without its scheme and refuses object stores without a sidecar", () => {
    expect(enginePath("huggingface://org/x")).to.equal("org/x");
    expect(enginePath("hf://org/x")).to.equal("org/x");
    expect(enginePath("/models/x")).to.equal("/models/x");
    expect(() => enginePath("s3://b/x")).to.throw(AdapterLoadError, /runtime sidecar/);
  });

  it("a stopped engine is a transient error; a refused request is permanent", async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const freed = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const gone: EngineAddress = { host: "127.0.0.1", port: freed, engine: "vllm" };
    const refused = await client.listModels(gone).catch((e: AdapterLoadError) => e);
    expect(refused).to.be.instanceOf(AdapterLoadError);
    expect((refused as AdapterLoadError).permanent).to.equal(false);
    expect((refused as AdapterLoadError).message).to.match(/ECONNREFUSED/);
    const noLora = await startSimulator({ host: "127.0.0.1", port: 0, model: "llama", maxLoras: 0 });
    try {
      const err = await client
        .load({ host: "127.0.0.1", port: noLora.port, engine: "vllm" }, { name: "x", artifactURL: "/m/x" })
        .catch((e: AdapterLoadError) => e);
      expect(err).to.be.instanceOf(AdapterLoadError);
      expect((err as AdapterLoadError).permanent).to.equal(true);
      expect((err as AdapterLoadError).message).to.match(/HTTP 400: LoRA is not enabled/);
    } finally {
      await noLora.close();
    }
  });

  it("sends additionalConfig api-key as a bearer token, and uses the sidecar's API where the pod runs one", async () => {
    const seen: { url?: string; auth?: string; body: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push({ url: req.url, auth: req.headers.authorization, body });
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      await client.load(
        { host: "127.0.0.1", port: 9, engine: "vllm", sidecarPort: port },
        { name: "sql", artifactURL: "s3://b/sql", credentials: { k: "v" }, additionalConfig: { "api-key": "sk-1" } },
      );
      await client.load({ host: "127.0.0.1", port, engine: "sglang" }, { name: "sql", artifactURL: "/m/sql" });
      // The sidecar gets the key inside additional_config and uses it on the engine beside it.
      expect(seen[0]).to.deep.include({ url: "/v1/lora_adapter/load" });
      expect(JSON.parse(seen[0]!.body)).to.deep.equal({
        lora_name: "sql",
        artifact_url: "s3://b/sql",
        credentials: { k: "v" },
        additional_config: { "api-key": "sk-1" },
      });
      expect(seen[1]).to.deep.include({ url: "/load_lora_adapter", auth: undefined });
      expect(JSON.parse(seen[1]!.body)).to.deep.equal({ lora_name: "sql", lora_path: "/m/sql" });
    } finally {
      server.close();
    }
  });
});
