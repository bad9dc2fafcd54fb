import { expect } from "chai";
import http from "node:http";
import * as k8s from "@kubernetes/client-node";
import { knownControllers, unservedControllers } from "../../../controllers/index.js";
import { KubeClient } from "../../../kube/request.js";

/** An API server that serves every group version but those in `missing` (404, as without the CRDs). */
async function apiServer(missing: string[]): Promise<{ client: KubeClient; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const status = missing.includes(req.url ?? "") ? 404 : 200;
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ kind: "Status", code: status }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "c", cluster: "c", user: "u" }],
    currentContext: "c",
  });
  return {
    client: new KubeClient(kc),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("aibrix-ts controllers: which controllers run", () => {
  const names = knownControllers().map((c) => c.name);

  it("knows every controller, in start order", () => {
    expect(names).to.deep.equal([
      "model-adapter",
      "pod-autoscaler",
      "raycluster-fleet",
      "raycluster-replicaset",
      "kvcache",
    ]);
  });

  it("leaves the fleet controllers out, saying what to install, where KubeRay's API is not served", async () => {
    const api = await apiServer(["/apis/ray.io/v1"]);
    try {
      const missing = await unservedControllers(api.client, names);
      expect([...missing.keys()]).to.deep.equal(["raycluster-fleet", "raycluster-replicaset"]);
      expect(missing.get("raycluster-fleet")).to.match(/install the KubeRay operator/);
    } finally {
      api.client.close();
      await api.close();
    }
  });

  it("runs them all where it is served", async () => {
    const api = await apiServer([]);
    try {
      expect((await unservedControllers(api.client, names)).size).to.equal(0);
    } finally {
      api.client.close();
      await api.close();
    }
  });
});
