// The HTTP surface every long-running Kubernetes component gives the kubelet and Prometheus: /healthz (the process
// answers), /readyz (200, or 503 with the reason the component gives) and /metrics from its registry.
import http from "node:http";
import type { Registry } from "prom-client";

export interface ProbeServer {
  url: string;
  close(): Promise<void>;
}

export async function serveProbes(o: {
  host: string;
  port: number;
  registry: Registry;
  /** Why the component is not ready, or undefined when it is. */
  notReady(): string | undefined;
}): Promise<ProbeServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") return void res.writeHead(200).end("ok");
    if (path === "/readyz") {
      const why = o.notReady();
      return void res.writeHead(why === undefined ? 200 : 503).end(why ?? "ok");
    }
    if (path === "/metrics") {
      void o.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": o.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    res
      .writeHead(404, { "content-type": "application/json" })
      .end(JSON.stringify({ error: `no route ${path}; try /healthz, /readyz or /metrics` }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, resolve);
  });
  const addr = server.address() as { address: string; port: number };
  return {
    url: `http://${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
