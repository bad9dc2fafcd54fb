import http from "node:http";
import type https from "node:https";
import { expect } from "chai";
import * as k8s from "@kubernetes/client-node";
import { KubeApiError, KubeClient } from "../../../kube/request.js";

/** A server that records each request's Authorization header and answers 401 while `refuse` is above zero. */
async function startServer() {
  const seen: string[] = [];
  const state = { refuse: 0 };
  const server = http.createServer((req, res) => {
    seen.push(req.headers.authorization ?? "");
    const status = state.refuse > 0 ? 401 : 200;
    if (state.refuse > 0) state.refuse--;
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(status === 200 ? { kind: "Status", status: "Success" } : { reason: "Unauthorized" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { server, seen, state, url: `http://127.0.0.1:${port}` };
}

/** A kubeconfig whose every application of credentials hands out the next token: t1, t2, ... */
function rotatingConfig(server: string) {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "c", cluster: "c", user: "u" }],
    currentContext: "c",
  });
  const applied = { count: 0 };
  const apply = kc.applyToHTTPSOptions.bind(kc);
  kc.applyToHTTPSOptions = async (opts: https.RequestOptions) => {
    await apply(opts);
    applied.count++;
    opts.headers = { ...opts.headers, Authorization: `Bearer t${applied.count}` };
  };
  return { kc, applied };
}

describe("kube client credentials", () => {
  it("applies the kubeconfig's credentials once for many requests, again after a 401 or 10 s", async () => {
    const s = await startServer();
    const { kc, applied } = rotatingConfig(s.url);
    const client = new KubeClient(kc);
    const realNow = Date.now;
    try {
      await Promise.all([client.get("/api/v1/pods"), client.get("/api/v1/pods")]);
      for (let i = 0; i < 3; i++) await client.get("/api/v1/nodes");
      expect(applied.count, "one application for five requests").to.equal(1);
      expect(s.seen).to.deep.equal(Array(5).fill("Bearer t1"));

      s.state.refuse = 1;
      const err = await client.get("/api/v1/pods").catch((e: unknown) => e);
      expect(err).to.be.instanceOf(KubeApiError).with.property("status", 401);
      await client.get("/api/v1/pods");
      expect(applied.count, "a 401 drops the credentials").to.equal(2);
      expect(s.seen.slice(-2)).to.deep.equal(["Bearer t1", "Bearer t2"]);

      Date.now = () => realNow() + 10_001;
      await client.get("/api/v1/pods");
      expect(applied.count, "reapplied once 10 s old").to.equal(3);
      expect(s.seen.at(-1)).to.equal("Bearer t3");
    } finally {
      Date.now = realNow;
      client.close();
      s.server.closeAllConnections();
      s.server.close();
    }
  });

  it("retries an application that failed on the next request", async () => {
    const s = await startServer();
    const { kc, applied } = rotatingConfig(s.url);
    const apply = kc.applyToHTTPSOptions;
    let fail = true;
    kc.applyToHTTPSOptions = async (opts: https.RequestOptions) => {
      if (fail) {
        fail = false;
        throw new Error("exec plugin failed");
      }
      await apply(opts);
    };
    const client = new KubeClient(kc);
    try {
      const err = await client.get("/api/v1/pods").catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Error).with.property("message", "exec plugin failed");
      await client.get("/api/v1/pods");
      expect(applied.count).to.equal(1);
      expect(s.seen).to.deep.equal(["Bearer t1"]);
    } finally {
      client.close();
      s.server.closeAllConnections();
      s.server.close();
    }
  });
});
