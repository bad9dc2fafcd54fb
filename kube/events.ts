// Events (events.k8s.io/v1) a person reads with `kubectl events` / `kubectl describe`. Repeats of one event on
// one object within the series window become a series (count + last time) instead of new objects, so a
// controller retrying every few seconds does not flood the API server.
import { randomBytes } from "node:crypto";
import type { KubeObject } from "./objects.js";
import type { KubeClient } from "./request.js";

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  /** `action` is what the controller did or failed to do (e.g. "Load"), `reason` a CamelCase word, `note` for people. */
  record(regarding: KubeObject, type: EventType, reason: string, action: string, note: string): void;
}

interface Recorded {
  name: string;
  namespace: string;
  count: number;
  firstAt: number;
}

/** A MicroTime as the API server wants it (RFC 3339 with microseconds). */
export function microTime(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class KubeEventRecorder implements EventRecorder {
  private readonly recent = new Map<string, Recorded>();

  constructor(
    private readonly client: KubeClient,
    private readonly controller: string,
    private readonly instance: string,
    private readonly options: { seriesWindowMs?: number; onError?(err: Error): void } = {},
  ) {}

  record(regarding: KubeObject, type: EventType, reason: string, action: string, note: string): void {
    void this.write(regarding, type, reason, action, note.slice(0, 1024)).catch((err: unknown) =>
      this.options.onError?.(err instanceof Error ? err : new Error(String(err))),
    );
  }

  private async write(regarding: KubeObject, type: EventType, reason: string, action: string, note: string) {
    const meta = regarding.metadata ?? {};
    const namespace = meta.namespace ?? "default";
    const now = new Date();
    const id = [meta.uid, type, reason, action, note].join("\u0000");
    const previous = this.recent.get(id);
    const base = `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`;
    if (previous && now.getTime() - previous.firstAt < (this.options.seriesWindowMs ?? 10 * 60_000)) {
      previous.count++;
      await this.client.patch(`${base}/${previous.name}`, {
        series: { count: previous.count, lastObservedTime: microTime(now) },
      });
      return;
    }
    if (this.recent.size > 4096) this.recent.clear();
    const name = `${meta.name ?? "object"}.${randomBytes(8).toString("hex")}`;
    await this.client.create(base, {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name, namespace },
      eventTime: microTime(now),
      reportingController: `aibrix-ts/${this.controller}`,
      reportingInstance: this.instance,
      action,
      reason,
      type,
      note,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
    });
    this.recent.set(id, { name, namespace, count: 1, firstAt: now.getTime() });
  }
}
