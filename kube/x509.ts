// What kube-apiserver's x509 (Go) accepts in certificates we issue for it or for the webhooks it calls.
import { randomBytes } from "node:crypto";

/**
 * A random 16-byte serial whose DER INTEGER is positive and minimal: a leading byte of 0x80 or more reads as negative,
 * and a leading zero byte before one under 0x80 is a non-minimal encoding that Go rejects as "malformed serial
 * number". So the leading byte is kept in 0x01..0x7f.
 */
export function certificateSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return bytes.toString("hex");
}
