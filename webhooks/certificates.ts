// Serving certificates made with node-forge: a self-signed CA and a leaf for the webhook Service's DNS names (and
// loopback for out-of-cluster runs). RSA-2048, SHA-256, serverAuth. Pure functions; storage lives elsewhere.
import { generateKeyPairSync } from "node:crypto";
import forge from "node-forge";
import { certificateSerial } from "../kube/x509.js";

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

/** Everything a replica needs to serve and to publish its CA: kept together in one Secret. */
export interface ServingBundle {
  ca: CertificateAuthority;
  certPem: string;
  keyPem: string;
  /** CA certificates clients must trust: the current CA, plus the previous one while a CA rotation settles. */
  caBundlePem: string;
}

export interface CertificateFacts {
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
}

/** DNS names a Service answers to inside the cluster. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

/** Validity window: a small backdate absorbs clock skew without eating a short lifetime. */
function validity(lifetimeSeconds: number, now: Date): { notBefore: Date; notAfter: Date } {
  const skewMs = Math.min(300_000, lifetimeSeconds * 50);
  return {
    notBefore: new Date(now.getTime() - skewMs),
    notAfter: new Date(now.getTime() + lifetimeSeconds * 1000),
  };
}

function keyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey } {
  // Key generation is the slow step; node:crypto does it natively (several times faster than forge's own path).
  const pair = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(pair.publicKey) as forge.pki.rsa.PublicKey,
    privateKey: forge.pki.privateKeyFromPem(pair.privateKey) as forge.pki.rsa.PrivateKey,
  };
}

export function createCertificateAuthority(
  commonName: string,
  lifetimeSeconds: number,
  now = new Date(),
): CertificateAuthority {
  const keys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = certificateSerial();
  Object.assign(cert.validity, validity(lifetimeSeconds, now));
  const subject = [{ name: "commonName", value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

function isIp(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":");
}

export function createServingCertificate(
  ca: CertificateAuthority,
  names: string[],
  lifetimeSeconds: number,
  now = new Date(),
): { certPem: string; keyPem: string } {
  if (names.length === 0) throw new Error("a serving certificate needs at least one DNS name or IP address");
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = certificateSerial();
  const window = validity(lifetimeSeconds, now);
  // A leaf never outlives the CA that signed it.
  if (window.notAfter > caCert.validity.notAfter) window.notAfter = caCert.validity.notAfter;
  Object.assign(cert.validity, window);
  const dnsFirst = names.find((n) => !isIp(n)) ?? names[0];
  cert.setSubject([{ name: "commonName", value: dnsFirst }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: names.map((n) => (isIp(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

export function certificateFacts(certPem: string): CertificateFacts {
  const cert = forge.pki.certificateFromPem(certPem);
  const san = cert.getExtension("subjectAltName") as {
    altNames?: { type: number; value?: string; ip?: string }[];
  } | null;
  const alt = san?.altNames ?? [];
  return {
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    dnsNames: alt.filter((a) => a.type === 2 && a.value).map((a) => a.value as string),
    ipAddresses: alt.filter((a) => a.type === 7 && a.ip).map((a) => a.ip as string),
  };
}

/** True when `certPem` was signed by `caPem` (a leaf from another CA must not be served with our caBundle). */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    return forge.pki.certificateFromPem(caPem).verify(forge.pki.certificateFromPem(certPem));
  } catch {
    return false;
  }
}

/** When to renew: once less than a third of the lifetime is left. */
export function renewalTime(certPem: string): Date {
  const { notBefore, notAfter } = certificateFacts(certPem);
  return new Date(notAfter.getTime() - (notAfter.getTime() - notBefore.getTime()) / 3);
}

/** Splits a PEM bundle into its certificates. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----(\r?\n)?/g) ?? [];
}
