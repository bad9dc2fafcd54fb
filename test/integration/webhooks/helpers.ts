import https from "node:https";
import type { TLSSocket } from "node:tls";

export interface Reply {
  status: number;
  body: string;
  json: () => Record<string, unknown>;
  fingerprint: string;
  socket: TLSSocket;
}

/** One HTTPS request with node:https (so tests can see the TLS socket and the certificate it was served). */
export function httpsRequest(
  url: string,
  opts: { method?: string; body?: string | Buffer; agent?: https.Agent; ca?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
        agent: opts.agent,
        ca: opts.agent ? undefined : opts.ca,
        headers: opts.body === undefined ? {} : { "content-type": "application/json" },
      },
      (res) => {
        // Captured now: the socket is detached from the response once it ends (keep-alive hands it back).
        const socket = res.socket as TLSSocket;
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            body,
            json: () => JSON.parse(body) as Record<string, unknown>,
            fingerprint,
            socket,
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}
