import { X509Certificate } from "node:crypto";
import { expect } from "chai";
import { CertificateManager, decodeBundle } from "../../../webhooks/certificate-manager.js";
import {
  certificateFacts,
  createCertificateAuthority,
  createServingCertificate,
  serviceDnsNames,
  signedBy,
  splitPem,
} from "../../../webhooks/certificates.js";
import { MemoryCaBundlePublisher, MemorySecretStore, type SecretStore } from "../../../webhooks/secret-store.js";
import { silent } from "./fixtures.js";

const NAMES = [...serviceDnsNames("aibrix-ts-webhooks", "aibrix-system"), "127.0.0.1"];

function manager(store: SecretStore, over: Partial<ConstructorParameters<typeof CertificateManager>[0]> = {}) {
  return new CertificateManager({
    store,
    namespace: "aibrix-system",
    secretName: "webhook-certs",
    names: NAMES,
    caLifetimeSeconds: 3600,
    leafLifetimeSeconds: 600,
    checkIntervalMs: 60_000,
    logger: silent,
    ...over,
  });
}

describe("webhooks: certificates", function () {
  // Key generation and hundreds of random cases: slow on a busy machine, never stuck.
  this.timeout(30_000);
  it("issues a serverAuth leaf for the Service names and 127.0.0.1, signed by the CA", () => {
    const ca = createCertificateAuthority("test-ca", 3600);
    const leaf = createServingCertificate(ca, NAMES, 600);
    const x = new X509Certificate(leaf.certPem);
    expect(x.verify(new X509Certificate(ca.certPem).publicKey)).to.equal(true);
    expect(x.subjectAltName).to.include("DNS:aibrix-ts-webhooks.aibrix-system.svc");
    expect(x.subjectAltName).to.include("DNS:aibrix-ts-webhooks.aibrix-system.svc.cluster.local");
    expect(x.subjectAltName).to.include("IP Address:127.0.0.1");
    expect(x.keyUsage).to.include("1.3.6.1.5.5.7.3.1"); // serverAuth
    expect(new X509Certificate(ca.certPem).ca).to.equal(true);
    const facts = certificateFacts(leaf.certPem);
    expect(facts.notAfter.getTime() - Date.now()).to.be.within(590_000, 601_000);
    expect(signedBy(leaf.certPem, createCertificateAuthority("other", 3600).certPem)).to.equal(false);
  });

  it("creates the Secret on first start and publishes the caBundle", async () => {
    const store = new MemorySecretStore();
    const publisher = new MemoryCaBundlePublisher();
    const m = manager(store, { publisher });
    const bundle = await m.ensure();
    const stored = await store.read("aibrix-system", "webhook-certs");
    expect(decodeBundle(stored!.data)?.certPem).to.equal(bundle.certPem);
    expect(publisher.published).to.deep.equal([bundle.caBundlePem]);
    expect(m.generated).to.equal(2); // CA + leaf
  });

  it("reuses a valid stored certificate instead of making a new one", async () => {
    const store = new MemorySecretStore();
    const first = await manager(store).ensure();
    const second = manager(store);
    expect((await second.ensure()).certPem).to.equal(first.certPem);
    expect(second.generated).to.equal(0);
    expect(store.writes).to.equal(1);
  });

  it("two instances starting at once converge on one certificate (the loser of the create re-reads)", async () => {
    const store = new MemorySecretStore(15); // every call takes 15 ms, so both read "absent" before either writes
    const a = manager(store);
    const b = manager(store);
    const [ba, bb] = await Promise.all([a.ensure(), b.ensure()]);
    expect(ba.certPem).to.equal(bb.certPem);
    expect(ba.caBundlePem).to.equal(bb.caBundlePem);
    expect(store.writes).to.equal(1);
    expect(a.generated + b.generated).to.equal(4); // both generated, only one was stored and served
  });

  it("renews a leaf with less than a third of its life left, keeping the CA", async () => {
    const store = new MemorySecretStore();
    let now = new Date();
    const m = manager(store, { now: () => now });
    const changes: string[] = [];
    m.onChange((b) => changes.push(b.certPem));
    const first = await m.ensure();
    now = new Date(now.getTime() + 410_000); // 600 s leaf: renewal after 400 s
    const second = await m.ensure();
    expect(second.certPem).to.not.equal(first.certPem);
    expect(second.ca.certPem).to.equal(first.ca.certPem);
    expect(changes).to.deep.equal([first.certPem, second.certPem]);
    expect((await m.ensure()).certPem).to.equal(second.certPem);
  });

  it("renews when the stored leaf misses a required name, keeping the names it had", async () => {
    const store = new MemorySecretStore();
    await manager(store, { names: [...NAMES, "10.0.0.7"] }).ensure();
    const wider = await manager(store, { names: [...NAMES, "webhooks.example"] }).ensure();
    const facts = certificateFacts(wider.certPem);
    expect(facts.dnsNames).to.include("webhooks.example");
    expect(facts.ipAddresses).to.include.members(["127.0.0.1", "10.0.0.7"]);
  });

  it("rotates an expiring CA and trusts old and new CAs together while replicas switch", async () => {
    const store = new MemorySecretStore();
    let now = new Date();
    const publisher = new MemoryCaBundlePublisher();
    const m = manager(store, { now: () => now, caLifetimeSeconds: 900, leafLifetimeSeconds: 300, publisher });
    const trustedWhenServed: string[] = [];
    m.onChange(() => trustedWhenServed.push(publisher.published.at(-1) ?? "nothing published"));
    const first = await m.ensure();
    now = new Date(now.getTime() + 650_000); // CA (900 s) is due after 600 s, still valid
    const second = await m.ensure();
    // The new bundle was published before the new leaf was handed to the TLS server.
    expect(trustedWhenServed).to.deep.equal([first.caBundlePem, second.caBundlePem]);
    expect(second.ca.certPem).to.not.equal(first.ca.certPem);
    expect(splitPem(second.caBundlePem)).to.deep.equal([second.ca.certPem, first.ca.certPem]);
    expect(signedBy(second.certPem, second.ca.certPem)).to.equal(true);
  });

  it("retries publishing the caBundle until the webhook configurations accept it", async () => {
    let attempts = 0;
    const published: string[] = [];
    const m = manager(new MemorySecretStore(), {
      publishRetryMs: 50,
      publisher: {
        async publishCaBundle(pem: string) {
          if (++attempts < 3) throw new Error("mutatingwebhookconfigurations not found");
          published.push(pem);
        },
      },
    });
    const bundle = await m.ensure();
    expect(published).to.deep.equal([]);
    m.start();
    try {
      for (let i = 0; i < 100 && published.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      m.stop();
    }
    expect(published).to.deep.equal([bundle.caBundlePem]);
    expect(attempts).to.equal(3);
  });

  it("replaces garbage in the Secret with a working certificate", async () => {
    const store = new MemorySecretStore();
    await store.create("aibrix-system", "webhook-certs", {
      "tls.crt": "junk",
      "tls.key": "junk",
      "ca.crt": "x",
      "ca.key": "y",
    });
    const bundle = await manager(store).ensure();
    expect(signedBy(bundle.certPem, bundle.ca.certPem)).to.equal(true);
  });
});
