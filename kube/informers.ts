// One informer per resource (and namespace and selectors) per process, however many controllers read it.
import { SharedInformer, type InformerOptions } from "./informer.js";
import type { KubeObject, ResourceRef } from "./objects.js";
import type { KubeClient } from "./request.js";

export class Informers {
  private readonly byResource = new Map<string, SharedInformer<KubeObject>>();
  private started = false;

  constructor(
    readonly client: KubeClient,
    private readonly options: InformerOptions = {},
  ) {}

  /** The informer for `ref`, created on first use; started at once when the factory already runs. */
  for<T extends KubeObject>(ref: ResourceRef): SharedInformer<T> {
    const id = [
      ref.group,
      ref.version,
      ref.plural,
      ref.namespace ?? "",
      ref.labelSelector ?? "",
      ref.fieldSelector ?? "",
    ]
      .map((s) => s.replace(/\|/g, "||"))
      .join("|");
    let informer = this.byResource.get(id);
    if (!informer) {
      informer = new SharedInformer<KubeObject>(this.client, ref, this.options);
      this.byResource.set(id, informer);
      if (this.started) informer.start();
    }
    return informer as unknown as SharedInformer<T>;
  }

  start(): void {
    this.started = true;
    for (const informer of this.byResource.values()) informer.start();
  }

  /** Resolves when every informer created so far has listed once. */
  async synced(): Promise<void> {
    await Promise.all([...this.byResource.values()].map((i) => i.synced));
  }

  allSynced(): boolean {
    return [...this.byResource.values()].every((i) => i.hasSynced());
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byResource.values()].map((i) => i.stop()));
  }
}
