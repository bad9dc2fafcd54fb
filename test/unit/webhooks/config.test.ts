import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import {
  ConfigError,
  defaultWebhookConfig,
  loadWebhookConfigFile,
  resolveWebhookConfig,
} from "../../../webhooks/config.js";

describe("webhooks: configuration", () => {
  it("defaults: runtime on 8080, AIBrix probes and resources, no scheduler switch, nvidia.com/gpu", () => {
    const c = defaultWebhookConfig();
    expect(c.sidecar).to.include({ name: "aibrix-runtime", port: 8080, portName: "metrics" });
    expect(c.sidecar.readiness).to.deep.equal({ path: "/ready", initialDelaySeconds: 5, periodSeconds: 10 });
    expect(c.gpuSchedulerName).to.equal("");
    expect(c.gpuResourceNames).to.deep.equal(["nvidia.com/gpu"]);
    expect(c.defaultEnginePort).to.equal(8000);
  });

  it("reads YAML or JSON files and merges them over the defaults, later inputs winning", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "webhook-config-"));
    const yamlFile = path.join(dir, "c.yaml");
    writeFileSync(
      yamlFile,
      "sidecar:\n  image: reg/runtime:9\n  port: 9000\ngpuResourceNames: [nvidia.com/gpu, amd.com/gpu]\n",
    );
    const jsonFile = path.join(dir, "c.json");
    writeFileSync(jsonFile, JSON.stringify({ sidecar: { port: 9100 } }));
    const c = resolveWebhookConfig(loadWebhookConfigFile(yamlFile), loadWebhookConfigFile(jsonFile));
    expect(c.sidecar.image).to.equal("reg/runtime:9");
    expect(c.sidecar.port).to.equal(9100);
    expect(c.sidecar.name).to.equal("aibrix-runtime");
    expect(c.gpuResourceNames).to.deep.equal(["nvidia.com/gpu", "amd.com/gpu"]);
  });

  const bad: [string, object, string, string][] = [
    ["a port out of range", { sidecar: { port: 70000 } }, "sidecar.port", "port 1..65535"],
    ["an upper-case container name", { sidecar: { name: "Runtime" } }, "sidecar.name", "dns1123-label"],
    [
      "a relative probe path",
      { sidecar: { liveness: { path: "health", initialDelaySeconds: 1, periodSeconds: 1 } } },
      "sidecar.liveness.path",
      "absolute-path",
    ],
    [
      "an empty GPU resource list entry",
      { gpuResourceNames: [""] },
      "gpuResourceNames",
      "non-empty list of resource names",
    ],
    ["env without values", { sidecar: { env: [{ name: "A" }] } }, "sidecar.env", "list of {name, value} strings"],
  ];
  for (const [what, input, field, rule] of bad) {
    it(`rejects ${what}, naming field, value and rule`, () => {
      try {
        resolveWebhookConfig(input as never);
        expect.fail("expected ConfigError");
      } catch (err) {
        expect(err).to.be.instanceOf(ConfigError);
        expect((err as ConfigError).field).to.equal(field);
        expect((err as ConfigError).rule).to.equal(rule);
        expect((err as Error).message).to.include(field);
      }
    });
  }

  it("reports unreadable and unparsable files with the file name", () => {
    expect(() => loadWebhookConfigFile("/nonexistent/webhooks.yaml")).to.throw(
      /cannot read \/nonexistent\/webhooks.yaml/,
    );
    const dir = mkdtempSync(path.join(tmpdir(), "webhook-config-"));
    const f = path.join(dir, "broken.yaml");
    writeFileSync(f, "sidecar: [unclosed");
    expect(() => loadWebhookConfigFile(f)).to.throw(/broken.yaml is not valid YAML/);
  });
});
