// The webhook server's TLS offer: forward secrecy and AEAD only, as kube-apiserver accepts by default.
import { expect } from "chai";
import pino from "pino";
import tls from "node:tls";
import { startWebhooks, type WebhookServer } from "../../../webhooks/server.js";

/** Handshake with only `ciphers` offered at TLS 1.2; resolves with the suite agreed, or the failure. */
function handshake(port: number, ca: string, ciphers: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca, ciphers, maxVersion: "TLSv1.2", minVersion: "TLSv1.2" });
    s.once("secureConnect", () => {
      resolve(s.getCipher().name);
      s.destroy();
    });
    s.once("error", (err) => resolve(`refused: ${err.message}`));
  });
}

describe("webhooks TLS", function () {
  this.timeout(30_000);
  let server: WebhookServer;
  before(async () => {
    server = await startWebhooks({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }) });
  });
  after(() => server.close());

  it("refuses TLS 1.2 suites without forward secrecy or with CBC and SHA-1", async () => {
    for (const suite of [
      "AES128-SHA",
      "AES256-GCM-SHA384",
      "AES128-SHA256",
      "ECDHE-RSA-AES128-SHA",
      "ECDHE-ECDSA-AES256-SHA",
    ]) {
      expect(await handshake(server.port, server.caBundle, suite), suite).to.match(/^refused/);
    }
  });

  it("agrees ECDHE with AEAD at TLS 1.2, and TLS 1.3", async () => {
    const agreed = await handshake(
      server.port,
      server.caBundle,
      "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
    );
    expect(agreed).to.match(/^ECDHE-(RSA|ECDSA)-AES128-GCM-SHA256$/);
    const v13 = await new Promise<string | null>((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port: server.port, ca: server.caBundle, minVersion: "TLSv1.3" });
      s.once("secureConnect", () => {
        resolve(s.getProtocol());
        s.destroy();
      });
      s.once("error", reject);
    });
    expect(v13).to.equal("TLSv1.3");
  });
});
