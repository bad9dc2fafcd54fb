// A tiny stand-in for kube-apiserver's list and watch of one collection, for unit tests of the informer and the
// controller (the real API server proves the same paths in e2e). It records every request and lets a test push
// watch events, end watches, answer 410 Gone, or fail requests.
import http from "node:http";
import * as k8s from "@kubernetes/client-node";
import { KubeClient } from "../../../kube/request.js";
import type { KubeObject } from "../../../kube/objects.js";

export class FakeCollection {
  readonly objects = new Map<string, KubeObject>();
  readonly requests: string[] = [];
  version = 100;
  private watchers = new Set<http.ServerResponse>();
  /** Answer the next N requests with this status. */
  failNext: { status: number; count: number } | undefined;
  private server?: http.Server;

  put(name: string, extra: Partial<KubeObject> = {}): KubeObject {
    const obj: KubeObject = {
      apiVersion: "v1",
      kind: "Pod",
      ...extra,
      metadata: {
        name,
        namespace: "ns",
        uid: `uid-${name}`,
        ...extra.metadata,
        resourceVersion: String(++this.version),
      },
    };
    const type = this.objects.has(name) ? "MODIFIED" : "ADDED";
    this.objects.set(name, obj);
    this.send({ type, object: obj });
    return obj;
  }

  remove(name: string, { silently = false } = {}): void {
    const obj = this.objects.get(name);
    if (!obj) return;
    this.objects.delete(name);
    this.version++;
    if (!silently)
      this.send({
        type: "DELETED",
        object: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.version) } },
      });
  }

  send(event: unknown): void {
    for (const w of this.watchers) w.write(JSON.stringify(event) + "\n");
  }

  bookmark(): void {
    this.send({
      type: "BOOKMARK",
      object: { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: String(++this.version) } },
    });
  }

  /** The watch's resourceVersion is too old: what the API server sends after etcd compaction. */
  expire(): void {
    this.send({
      type: "ERROR",
      object: {
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        code: 410,
        reason: "Expired",
        message: "too old resource version",
      },
    });
  }

  endWatches(): void {
    for (const w of this.watchers) w.end();
    this.watchers.clear();
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  async start(): Promise<KubeClient> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      this.requests.push(
        `${req.method} ${url.pathname}${url.searchParams.get("watch") ? "?watch" : ""}${url.searchParams.get("resourceVersion") ? `@${url.searchParams.get("resourceVersion")}` : ""}`,
      );
      if (this.failNext && this.failNext.count > 0) {
        this.failNext.count--;
        res.writeHead(this.failNext.status, { "content-type": "application/json" });
        return void res.end(
          JSON.stringify({ kind: "Status", code: this.failNext.status, reason: "InternalError", message: "injected" }),
        );
      }
      if (url.searchParams.get("watch")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.flushHeaders();
        this.watchers.add(res);
        res.on("close", () => this.watchers.delete(res));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "PodList",
          apiVersion: "v1",
          metadata: { resourceVersion: String(this.version) },
          items: [...this.objects.values()],
        }),
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as { port: number };
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u" }],
      contexts: [{ name: "c", cluster: "fake", user: "u" }],
      currentContext: "c",
    });
    return new KubeClient(kc);
  }

  async stop(): Promise<void> {
    this.endWatches();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
