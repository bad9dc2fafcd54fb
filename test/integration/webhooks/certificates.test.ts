import https from "node:https";
import { expect } from "chai";
import pino from "pino";
import { MemoryCaBundlePublisher, MemorySecretStore } from "../../../webhooks/secret-store.js";
import { startWebhooks, type WebhookServer } from "../../../webhooks/server.js";
import { httpsRequest } from "./helpers.js";

const silent = pino({ level: "silent" });

describe("webhooks: certificates on a live server", function () {
  this.timeout(60_000);
  const servers: WebhookServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it("two instances starting together share one Secret and serve the same certificate", async () => {
    const store = new MemorySecretStore(20);
    const publisher = new MemoryCaBundlePublisher();
    const start = () =>
      startWebhooks({ host: "127.0.0.1", port: 0, logger: silent, certificates: { store, publisher } });
    servers.push(...(await Promise.all([start(), start()])));
    const [a, b] = servers as [WebhookServer, WebhookServer];
    expect(a.caBundle).to.equal(b.caBundle);
    expect(store.writes).to.equal(1);
    const ra = await httpsRequest(`${a.url}/healthz`, { ca: a.caBundle });
    const rb = await httpsRequest(`${b.url}/healthz`, { ca: a.caBundle }); // b verifies with a's CA
    expect(ra.fingerprint).to.equal(rb.fingerprint);
    expect(new Set(publisher.published)).to.deep.equal(new Set([a.caBundle]));
  });

  it("a restarted instance reuses the stored certificate", async () => {
    const store = new MemorySecretStore();
    const first = await startWebhooks({ host: "127.0.0.1", port: 0, logger: silent, certificates: { store } });
    const before = (await httpsRequest(`${first.url}/healthz`, { ca: first.caBundle })).fingerprint;
    await first.close();
    const second = await startWebhooks({ host: "127.0.0.1", port: 0, logger: silent, certificates: { store } });
    servers.push(second);
    expect((await httpsRequest(`${second.url}/healthz`, { ca: second.caBundle })).fingerprint).to.equal(before);
    expect(store.writes).to.equal(1);
  });

  it("rotates before expiry and hot-reloads: the open connection keeps working, new ones get the new leaf", async () => {
    // 6 s leaf: renewed once a third of its life is left, about 4 s after start.
    const server = await startWebhooks({
      host: "127.0.0.1",
      port: 0,
      logger: silent,
      certificates: { leafLifetimeSeconds: 6 },
    });
    servers.push(server);
    const ca = server.caBundle;
    const live = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    try {
      const first = await httpsRequest(`${server.url}/healthz`, { agent: live });
      const reloaded = new Promise<void>((resolve) => server.certificates.onChange(() => resolve()));
      let pings = 0;
      let stop = false;
      const pinger = (async () => {
        while (!stop) {
          const r = await httpsRequest(`${server.url}/healthz`, { agent: live });
          expect(r.status).to.equal(200);
          expect(r.socket, "the same TLS connection throughout").to.equal(first.socket);
          pings++;
          await new Promise((res) => setTimeout(res, 200));
        }
      })();
      await reloaded;
      await new Promise((res) => setTimeout(res, 300));
      stop = true;
      await pinger;
      const after = await httpsRequest(`${server.url}/healthz`, { agent: live });
      expect(after.socket).to.equal(first.socket);
      expect(after.fingerprint).to.equal(first.fingerprint);
      expect(pings).to.be.greaterThan(3);
      const fresh = await httpsRequest(`${server.url}/healthz`, { ca: server.caBundle });
      expect(fresh.status).to.equal(200);
      expect(fresh.fingerprint).to.not.equal(first.fingerprint);
      const metrics = (await httpsRequest(`${server.url}/metrics`, { ca })).body;
      expect(metrics).to.match(/aibrix_webhook_certificate_reloads_total [1-9]/);
    } finally {
      live.destroy();
    }
  });
});
