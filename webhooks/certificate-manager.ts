// Load-or-create the serving certificate in a Secret, safely when several replicas start at once (create-if-absent;
// the loser of a conflict re-reads and uses the winner's), renew before expiry, and tell listeners so the TLS server
// can swap its context without dropping connections.
import type { Logger } from "pino";
import {
  certificateFacts,
  createCertificateAuthority,
  createServingCertificate,
  renewalTime,
  signedBy,
  splitPem,
  type ServingBundle,
} from "./certificates.js";
import { ConflictError, type CaBundlePublisher, type SecretStore } from "./secret-store.js";

export interface CertificateManagerOptions {
  store: SecretStore;
  publisher?: CaBundlePublisher;
  namespace: string;
  secretName: string;
  /** DNS names and IP addresses the leaf must cover. */
  names: string[];
  caLifetimeSeconds: number;
  leafLifetimeSeconds: number;
  /** Longest wait between checks of the Secret (another replica may have renewed it). */
  checkIntervalMs: number;
  logger: Logger;
  /** Wait before retrying a failed caBundle publication (default 5 s). */
  publishRetryMs?: number;
  now?: () => Date;
}

const KEYS = { cert: "tls.crt", key: "tls.key", caCert: "ca.crt", caKey: "ca.key", caBundle: "ca-bundle.crt" } as const;

export function encodeBundle(b: ServingBundle): Record<string, string> {
  return {
    [KEYS.cert]: b.certPem,
    [KEYS.key]: b.keyPem,
    [KEYS.caCert]: b.ca.certPem,
    [KEYS.caKey]: b.ca.keyPem,
    [KEYS.caBundle]: b.caBundlePem,
  };
}

export function decodeBundle(data: Record<string, string>): ServingBundle | undefined {
  const cert = data[KEYS.cert];
  const key = data[KEYS.key];
  const caCert = data[KEYS.caCert];
  const caKey = data[KEYS.caKey];
  if (!cert || !key || !caCert || !caKey) return undefined;
  return {
    certPem: cert,
    keyPem: key,
    ca: { certPem: caCert, keyPem: caKey },
    caBundlePem: data[KEYS.caBundle] || caCert,
  };
}

export class CertificateManager {
  private bundle: ServingBundle | undefined;
  private publishedBundle: string | undefined;
  private readonly listeners: ((b: ServingBundle) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => Date;
  /** How many certificates this instance generated (tests check that losers of a race generate but do not serve). */
  generated = 0;

  constructor(private readonly opts: CertificateManagerOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  get current(): ServingBundle {
    if (!this.bundle) throw new Error("certificate not loaded yet: call ensure() first");
    return this.bundle;
  }

  onChange(listener: (b: ServingBundle) => void): void {
    this.listeners.push(listener);
  }

  /** Why a stored bundle cannot be served as is, or undefined when it can. */
  problemWith(b: ServingBundle): string | undefined {
    let leaf, ca;
    try {
      leaf = certificateFacts(b.certPem);
      ca = certificateFacts(b.ca.certPem);
    } catch (err) {
      return `unreadable certificate (${(err as Error).message})`;
    }
    const now = this.now();
    if (!signedBy(b.certPem, b.ca.certPem)) return "leaf not signed by the stored CA";
    const covered = new Set([...leaf.dnsNames, ...leaf.ipAddresses]);
    const missing = this.opts.names.filter((n) => !covered.has(n));
    if (missing.length > 0) return `leaf does not cover ${missing.join(", ")}`;
    if (now >= renewalTime(b.ca.certPem) || now >= ca.notAfter) return "CA due for renewal";
    if (now >= renewalTime(b.certPem) || now >= leaf.notAfter) return "leaf due for renewal";
    return undefined;
  }

  /** A bundle to replace `old` (or the first one): keeps a healthy CA, else makes a new one and trusts both. */
  private renew(old: ServingBundle | undefined): ServingBundle {
    const now = this.now();
    let ca = old?.ca;
    let caBundle = old?.caBundlePem;
    const caHealthy = (() => {
      if (!ca) return false;
      try {
        return now < renewalTime(ca.certPem);
      } catch {
        return false;
      }
    })();
    if (!ca || !caHealthy) {
      const previous = ca;
      ca = createCertificateAuthority(`aibrix-ts-webhook-ca-${this.opts.namespace}`, this.opts.caLifetimeSeconds, now);
      this.generated++;
      // Until every replica serves a leaf from the new CA, clients must trust the old one too.
      const keepOld = (() => {
        try {
          return previous !== undefined && certificateFacts(previous.certPem).notAfter > now;
        } catch {
          return false;
        }
      })();
      caBundle = keepOld && previous ? ca.certPem + previous.certPem : ca.certPem;
    }
    const names = new Set(this.opts.names);
    if (old) {
      try {
        const facts = certificateFacts(old.certPem);
        for (const n of [...facts.dnsNames, ...facts.ipAddresses]) names.add(n); // never drop a neighbour's SAN
      } catch {
        // unreadable: start from our own names
      }
    }
    const leaf = createServingCertificate(ca, [...names], this.opts.leafLifetimeSeconds, now);
    this.generated++;
    // Only CA certificates still valid stay in the bundle.
    const bundle = splitPem(caBundle ?? ca.certPem)
      .filter((pem) => {
        try {
          return certificateFacts(pem).notAfter > now;
        } catch {
          return false;
        }
      })
      .join("");
    return { ca, certPem: leaf.certPem, keyPem: leaf.keyPem, caBundlePem: bundle || ca.certPem };
  }

  /** Converges on the Secret's bundle (creating or renewing it when needed) and returns it. */
  async ensure(): Promise<ServingBundle> {
    const { store, namespace, secretName, logger } = this.opts;
    for (let attempt = 0; attempt < 10; attempt++) {
      const stored = await store.read(namespace, secretName);
      const existing = stored && decodeBundle(stored.data);
      const problem = existing ? this.problemWith(existing) : "no certificate stored";
      if (existing && problem === undefined) return this.adopt(existing);
      const next = this.renew(existing);
      try {
        if (!stored) await store.create(namespace, secretName, encodeBundle(next));
        else await store.update(namespace, secretName, encodeBundle(next), stored.resourceVersion);
        logger.info({ secret: `${namespace}/${secretName}`, reason: problem }, "stored a new serving certificate");
        return this.adopt(next);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        logger.info(
          { secret: `${namespace}/${secretName}` },
          "another replica wrote the certificate first; re-reading",
        );
      }
    }
    throw new Error(`could not settle the serving certificate in secret ${namespace}/${secretName} after 10 attempts`);
  }

  private async adopt(b: ServingBundle): Promise<ServingBundle> {
    const changed = this.bundle?.certPem !== b.certPem;
    this.bundle = b;
    // Publish first: after a CA rotation the API server must trust the new CA before it meets the new leaf.
    await this.publish();
    if (changed) for (const l of this.listeners) l(b);
    return b;
  }

  private async publish(): Promise<void> {
    const b = this.bundle;
    if (!b || !this.opts.publisher || this.publishedBundle === b.caBundlePem) return;
    try {
      await this.opts.publisher.publishCaBundle(b.caBundlePem);
      this.publishedBundle = b.caBundlePem;
    } catch (err) {
      // Retried on the next check; serving goes on meanwhile.
      this.opts.logger.warn(
        { err: (err as Error).message },
        "could not publish caBundle to the webhook configurations",
      );
    }
  }

  /** Checks again at renewal time (or every checkIntervalMs, whichever is sooner) until stop(). */
  start(): void {
    this.stopped = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    let delay = this.opts.checkIntervalMs;
    if (this.bundle) {
      const due = Math.min(renewalTime(this.bundle.certPem).getTime(), renewalTime(this.bundle.ca.certPem).getTime());
      delay = Math.max(50, Math.min(delay, due - this.now().getTime()));
      // The configurations may appear later (chart installed after us): retry publishing soon, not in ten minutes.
      if (this.opts.publisher && this.publishedBundle !== this.bundle.caBundlePem) {
        delay = Math.min(delay, this.opts.publishRetryMs ?? 5_000);
      }
    }
    this.timer = setTimeout(() => {
      this.ensure()
        .catch((err: unknown) => this.opts.logger.error({ err: (err as Error).message }, "certificate check failed"))
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
