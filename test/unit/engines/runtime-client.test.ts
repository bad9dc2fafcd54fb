import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { loadThroughRuntime, runtimeUrl, unloadThroughRuntime } from "../../../engines/runtime-client.js";

describe("engines: runtime sidecar client", () => {
  let server: http.Server;
  let base: string;
  const seen: { path: string; body: unknown }[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      let data = "";
      req.on("data", (c: Buffer) => (data += c.toString()));
      req.on("end", () => {
        const body = JSON.parse(data) as { lora_name: string };
        seen.push({ path: req.url ?? "", body });
        if (body.lora_name === "broken") {
          res.writeHead(502, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: "s3://b/x: no objects under this prefix" } }));
        } else {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end(`Success: LoRA adapter '${body.lora_name}' added successfully.`);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("builds the sidecar URL for IPv4 and IPv6 pod IPs", () => {
    expect(runtimeUrl("10.0.0.7")).to.equal("http://10.0.0.7:8080");
    expect(runtimeUrl("fd00::7", 9000)).to.equal("http://[fd00::7]:9000");
  });

  it("sends the delegated form for URLs and the direct form for paths; unload asks for cleanup", async () => {
    seen.length = 0;
    const ok = await loadThroughRuntime(base, {
      loraName: "a1",
      artifactUrl: "s3://b/a1",
      credentials: { AWS_ACCESS_KEY_ID: "k" },
    });
    expect(ok).to.deep.equal({ ok: true, status: 200, message: "Success: LoRA adapter 'a1' added successfully." });
    await loadThroughRuntime(base, { loraName: "a2", artifactUrl: "/models/a2" });
    await unloadThroughRuntime(base, "a1");
    expect(seen).to.deep.equal([
      {
        path: "/v1/lora_adapter/load",
        body: { lora_name: "a1", artifact_url: "s3://b/a1", credentials: { AWS_ACCESS_KEY_ID: "k" } },
      },
      { path: "/v1/lora_adapter/load", body: { lora_name: "a2", lora_path: "/models/a2" } },
      { path: "/v1/lora_adapter/unload", body: { lora_name: "a1", cleanup_local: true } },
    ]);
  });

  it("reports the sidecar's error message, and an unreachable sidecar, without throwing", async () => {
    const bad = await loadThroughRuntime(base, { loraName: "broken", artifactUrl: "s3://b/x" });
    expect(bad).to.deep.equal({ ok: false, status: 502, message: "s3://b/x: no objects under this prefix" });
    const down = await unloadThroughRuntime("http://127.0.0.1:9", "a1", 2000);
    expect(down.ok).to.equal(false);
    expect(down.status).to.equal(0);
    expect(down.message).to.match(/^runtime sidecar http:\/\/127\.0\.0\.1:9\/v1\/lora_adapter\/unload unreachable/);
  });
});
