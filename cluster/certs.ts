// The loopback cluster's PKI: one CA that signs every serving and client certificate, plus the key pair kube-apiserver
// uses to sign and verify service-account tokens. Keys come from node:crypto (fast, native); node-forge only builds
// and signs the X.509 structures.
import { generateKeyPair, generateKeyPairSync } from "node:crypto";
import forge from "node-forge";
import { certificateSerial } from "../kube/x509.js";

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface ClusterPki {
  ca: KeyPairPem;
  /** kube-apiserver's serving certificate (127.0.0.1, localhost, the in-cluster service names). */
  apiserver: KeyPairPem;
  /** Client certificate in group system:masters: the admin kubeconfig and every control-plane component. */
  admin: KeyPairPem;
  /** Service-account token signing key (PKCS#8) and its public half (SPKI). */
  serviceAccount: { privateKeyPem: string; publicKeyPem: string };
  /** Client certificates of the controller-manager and scheduler (the identities bootstrap RBAC grants). */
  controllerManager: KeyPairPem;
  scheduler: KeyPairPem;
}

const DAY_MS = 24 * 60 * 60 * 1000;

type RsaPair = { privateKeyPem: string; publicKeyPem: string };
function rsaKeys(): RsaPair {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** Key generation dominates start-up on a busy machine; the libuv pool runs these in parallel. */
function rsaKeysAsync(): Promise<RsaPair> {
  return new Promise((resolve, reject) =>
    generateKeyPair(
      "rsa",
      {
        modulusLength: 2048,
        publicKeyEncoding: { type: "spki", format: "pem" },
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
      },
      (err, publicKey, privateKey) =>
        err ? reject(err) : resolve({ privateKeyPem: privateKey, publicKeyPem: publicKey }),
    ),
  );
}

interface CertRequest {
  subject: { CN: string; O?: string };
  issuer?: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey };
  isCa?: boolean;
  dnsNames?: string[];
  ips?: string[];
  usage: "ca" | "server" | "client";
  validDays: number;
}

function issue(
  req: CertRequest,
  pair: RsaPair = rsaKeys(),
): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey; pem: KeyPairPem } {
  const key = forge.pki.privateKeyFromPem(pair.privateKeyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(pair.publicKeyPem);
  cert.serialNumber = certificateSerial();
  // Backdate a little so a clock skew between processes never makes a fresh certificate "not yet valid".
  cert.validity.notBefore = new Date(Date.now() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(Date.now() + req.validDays * DAY_MS);
  const subject: forge.pki.CertificateField[] = [{ name: "commonName", value: req.subject.CN }];
  if (req.subject.O) subject.push({ name: "organizationName", value: req.subject.O });
  cert.setSubject(subject);
  cert.setIssuer(req.issuer ? req.issuer.cert.subject.attributes : subject);
  const extensions: object[] = [];
  if (req.usage === "ca") {
    extensions.push({ name: "basicConstraints", cA: true, critical: true });
    extensions.push({ name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true });
  } else {
    extensions.push({ name: "basicConstraints", cA: false });
    extensions.push({ name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true });
    extensions.push(
      req.usage === "server" ? { name: "extKeyUsage", serverAuth: true } : { name: "extKeyUsage", clientAuth: true },
    );
  }
  const altNames = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(req.ips ?? []).map((ip) => ({ type: 7, ip })),
  ];
  if (altNames.length > 0) extensions.push({ name: "subjectAltName", altNames });
  extensions.push({ name: "subjectKeyIdentifier" });
  cert.setExtensions(extensions);
  cert.sign(req.issuer ? req.issuer.key : key, forge.md.sha256.create());
  return { cert, key, pem: { certPem: forge.pki.certificateToPem(cert), keyPem: pair.privateKeyPem } };
}

export interface ServingCertOptions {
  commonName: string;
  dnsNames?: string[];
  ips?: string[];
  validDays?: number;
}

/** A certificate authority that can issue more leaves later (webhook and extender serving certs in tests). */
export class CertificateAuthority {
  private constructor(
    private readonly cert: forge.pki.Certificate,
    private readonly key: forge.pki.rsa.PrivateKey,
    readonly pem: KeyPairPem,
  ) {}

  static create(commonName = "aibrix-ts-loopback-ca", validDays = 7, pair?: RsaPair): CertificateAuthority {
    const ca = issue({ subject: { CN: commonName }, usage: "ca", validDays }, pair);
    return new CertificateAuthority(ca.cert, ca.key, ca.pem);
  }

  static fromPem(pem: KeyPairPem): CertificateAuthority {
    return new CertificateAuthority(
      forge.pki.certificateFromPem(pem.certPem),
      forge.pki.privateKeyFromPem(pem.keyPem) as forge.pki.rsa.PrivateKey,
      pem,
    );
  }

  serving(opts: ServingCertOptions, pair?: RsaPair): KeyPairPem {
    return issue(
      {
        subject: { CN: opts.commonName },
        issuer: { cert: this.cert, key: this.key },
        usage: "server",
        dnsNames: opts.dnsNames ?? ["localhost"],
        ips: opts.ips ?? ["127.0.0.1"],
        validDays: opts.validDays ?? 7,
      },
      pair,
    ).pem;
  }

  client(commonName: string, organization?: string, validDays = 7, pair?: RsaPair): KeyPairPem {
    return issue(
      {
        subject: organization ? { CN: commonName, O: organization } : { CN: commonName },
        issuer: { cert: this.cert, key: this.key },
        usage: "client",
        validDays,
      },
      pair,
    ).pem;
  }
}

/** Everything the control plane needs, valid for a week (a test cluster never lives that long). */
export async function createClusterPki(): Promise<ClusterPki> {
  const [caPair, apiPair, adminPair, saPair, kcmPair, schedPair] = await Promise.all(
    Array.from({ length: 6 }, () => rsaKeysAsync()),
  );
  const ca = CertificateAuthority.create("aibrix-ts-loopback-ca", 7, caPair);
  return {
    ca: ca.pem,
    apiserver: ca.serving(
      {
        commonName: "kube-apiserver",
        dnsNames: [
          "localhost",
          "kubernetes",
          "kubernetes.default",
          "kubernetes.default.svc",
          "kubernetes.default.svc.cluster.local",
        ],
        ips: ["127.0.0.1", "10.96.0.1"],
      },
      apiPair,
    ),
    admin: ca.client("admin", "system:masters", 7, adminPair),
    serviceAccount: saPair as RsaPair,
    controllerManager: ca.client("system:kube-controller-manager", undefined, 7, kcmPair),
    scheduler: ca.client("system:kube-scheduler", undefined, 7, schedPair),
  };
}
