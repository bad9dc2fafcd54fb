// What a metric source yields for one tick: a value per pod (pod, resource, custom) or one cluster-wide total
// (external). A pod whose value could not be read carries `undefined`, never 0.
import type { MetricSource } from "../../../api/kinds/pod-autoscaler.js";
import type { Pod } from "../pods.js";

export type SourceReading =
  | { kind: "pods"; values: ReadonlyMap<string, number | undefined> }
  | { kind: "total"; value: number | undefined }
  | { kind: "error"; message: string };

export interface SourceContext {
  namespace: string;
  /** The scale target's pod selector, in the API's string form (`app=llama,tier in (a,b)`). */
  selector: string;
  /** The pods worth reading: Ready, not terminating, past warm-up. */
  pods: readonly Pod[];
}

export interface MetricReader {
  read(source: MetricSource, ctx: SourceContext): Promise<SourceReading>;
}
