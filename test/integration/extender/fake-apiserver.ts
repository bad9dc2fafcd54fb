// A loopback stand-in for the few kube-apiserver endpoints the extender uses: list+watch of nodes, pods and one
// ConfigMap, pod GET, and pods/{name}/binding (which sets nodeName and copies the Binding's annotations, as the
// real registry does). The full control plane proof runs against real binaries in cluster/.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

type Obj = {
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
};

interface Collection {
  kind: string;
  objects: Map<string, Obj>;
  watchers: Set<http.ServerResponse>;
  /** Every event with its resource version, so a watch from version X replays what came after X. */
  log: { rv: number; line: string; obj: Obj }[];
}

export class FakeApiServer {
  private rv = 100;
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private readonly collections = new Map<string, Collection>();
  readonly bindings: { namespace: string; name: string; body: Record<string, unknown> }[] = [];
  /** Delay added before answering a binding, to widen race windows in tests. */
  bindDelayMs = 0;
  url = "";

  constructor() {
    for (const [key, kind] of [
      ["nodes", "NodeList"],
      ["pods", "PodList"],
      ["configmaps", "ConfigMapList"],
    ] as const) {
      this.collections.set(key, { kind, objects: new Map(), watchers: new Set(), log: [] });
    }
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async kubeconfigFile(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "fake-kube-"));
    const file = path.join(dir, "kubeconfig");
    await writeFile(
      file,
      `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "${this.url}", insecure-skip-tls-verify: true}}]
users: [{name: tester, user: {token: test-token}}]
contexts: [{name: fake, context: {cluster: fake, user: tester}}]
current-context: fake
`,
    );
    return file;
  }

  async stop(): Promise<void> {
    for (const c of this.collections.values()) for (const w of c.watchers) w.end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  put(collection: "nodes" | "pods" | "configmaps", obj: Obj): void {
    const c = this.collections.get(collection)!;
    const key = `${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
    const type = c.objects.has(key) ? "MODIFIED" : "ADDED";
    obj.metadata.resourceVersion = String(++this.rv);
    c.objects.set(key, obj);
    this.emit(c, type, obj);
  }

  remove(collection: "nodes" | "pods" | "configmaps", namespace: string, name: string): void {
    const c = this.collections.get(collection)!;
    const found = c.objects.get(`${namespace}/${name}`);
    if (!found) return;
    const obj = { ...found, metadata: { ...found.metadata, resourceVersion: String(++this.rv) } };
    c.objects.delete(`${namespace}/${name}`);
    this.emit(c, "DELETED", obj);
  }

  pod(namespace: string, name: string): Obj | undefined {
    return this.collections.get("pods")!.objects.get(`${namespace}/${name}`);
  }

  private emit(c: Collection, type: string, obj: Obj): void {
    const line = JSON.stringify({ type, object: obj }) + "\n";
    c.log.push({ rv: Number(obj.metadata.resourceVersion ?? this.rv), line, obj });
    for (const w of c.watchers) w.write(line);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const p = url.pathname;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== "Bearer test-token") return json(401, { message: "Unauthorized" });
    let m: RegExpExecArray | null;
    if (req.method === "POST" && (m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/binding$/.exec(p))) {
      const [, ns, name] = m as unknown as [string, string, string];
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        setTimeout(() => {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as {
            metadata: { uid?: string; annotations?: Record<string, string> };
            target: { name: string };
          };
          this.bindings.push({ namespace: ns, name, body: body as unknown as Record<string, unknown> });
          const pod = this.pod(ns, name);
          if (!pod) return json(404, { kind: "Status", message: `pods "${name}" not found`, code: 404 });
          if (body.metadata.uid && body.metadata.uid !== pod.metadata.uid) {
            return json(409, { kind: "Status", message: "Precondition failed: UID in precondition", code: 409 });
          }
          if (pod.spec?.nodeName) {
            return json(409, {
              kind: "Status",
              message: `pod ${name} is already assigned to node "${String(pod.spec.nodeName)}"`,
              code: 409,
            });
          }
          const updated: Obj = {
            ...pod,
            metadata: {
              ...pod.metadata,
              annotations: { ...(pod.metadata.annotations ?? {}), ...(body.metadata.annotations ?? {}) },
            },
            spec: { ...pod.spec, nodeName: body.target.name },
          };
          this.put("pods", updated);
          json(201, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 });
        }, this.bindDelayMs);
      });
      return;
    }
    if (req.method === "GET" && (m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p))) {
      const pod = this.pod(m[1]!, m[2]!);
      return pod ? json(200, pod) : json(404, { kind: "Status", message: `pods "${m[2]}" not found`, code: 404 });
    }
    let collection: Collection | undefined;
    let namespace: string | undefined;
    if (p === "/api/v1/nodes") collection = this.collections.get("nodes");
    else if (p === "/api/v1/pods") collection = this.collections.get("pods");
    else if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/.exec(p))) {
      collection = this.collections.get("configmaps");
      namespace = m[1];
    }
    if (!collection || req.method !== "GET") return json(404, { message: `no fake route ${req.method} ${p}` });
    const fieldName = /metadata\.name=([^,]+)/.exec(url.searchParams.get("fieldSelector") ?? "")?.[1];
    const matches = (o: Obj) =>
      (namespace === undefined || o.metadata.namespace === namespace) && (!fieldName || o.metadata.name === fieldName);
    if (url.searchParams.get("watch") === "true") {
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      res.flushHeaders();
      // Filter per watcher: wrap write so only matching objects go out.
      const c = collection;
      const proxy = Object.create(res) as http.ServerResponse;
      proxy.write = ((chunk: string) => {
        const ev = JSON.parse(chunk) as { object: Obj };
        return matches(ev.object) ? res.write(chunk) : true;
      }) as http.ServerResponse["write"];
      proxy.end = (() => res.end()) as http.ServerResponse["end"];
      const from = Number(url.searchParams.get("resourceVersion") ?? "0");
      for (const e of c.log) if (e.rv > from && matches(e.obj)) res.write(e.line);
      c.watchers.add(proxy);
      req.on("close", () => c.watchers.delete(proxy));
      return;
    }
    json(200, {
      kind: collection.kind,
      apiVersion: "v1",
      metadata: { resourceVersion: String(this.rv) },
      items: [...collection.objects.values()].filter(matches),
    });
  }
}
