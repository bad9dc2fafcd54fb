// Scheduler-extender wire types (kube-scheduler `extender/v1`). The Go structs carry no JSON tags, so keys are
// PascalCase and every field is present (null when unset). Embedded Pod and Node objects are ordinary camelCase JSON.

/** The parts of a Pod placement reads. */
export interface PodObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
    deletionTimestamp?: string;
  };
  spec?: {
    nodeName?: string;
    schedulerName?: string;
    containers?: ContainerObject[];
    initContainers?: ContainerObject[];
  };
  status?: { phase?: string };
}

export interface ContainerObject {
  name?: string;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
}

/** The parts of a Node placement reads. */
export interface NodeObject {
  metadata?: {
    name?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  status?: { allocatable?: Record<string, string | number>; capacity?: Record<string, string | number> };
}

export interface NodeList {
  metadata?: Record<string, unknown>;
  items: NodeObject[];
}

export interface ExtenderArgs {
  Pod: PodObject;
  Nodes: NodeList | null;
  NodeNames: string[] | null;
}

export interface ExtenderFilterResult {
  Nodes: NodeList | null;
  NodeNames: string[] | null;
  FailedNodes: Record<string, string>;
  FailedAndUnresolvableNodes: Record<string, string>;
  Error: string;
}

export interface HostPriority {
  Host: string;
  Score: number;
}

export interface ExtenderBindingArgs {
  PodName: string;
  PodNamespace: string;
  PodUID: string;
  Node: string;
}

export interface ExtenderBindingResult {
  Error: string;
}

/** The protocol's highest extender score (`MaxExtenderPriority`). */
export const MAX_EXTENDER_PRIORITY = 10;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Parses a request body; a failure becomes the result's `Error` text, never an exception. */
export function parseJson(body: string): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { ok: false, error: `request body is not valid JSON (${msg}); send ExtenderArgs as application/json` };
  }
}

/**
 * Checks the shape of ExtenderArgs without walking node objects (those are checked lazily, one at a time, where used).
 * Accepts camelCase keys too, as Go's decoder does.
 */
export function checkExtenderArgs(raw: unknown): Parsed<ExtenderArgs> {
  if (!isRecord(raw))
    return { ok: false, error: `ExtenderArgs: got ${kindOf(raw)}, rule "object": send {Pod, Nodes|NodeNames}` };
  const pod = raw.Pod ?? raw.pod;
  const nodes = raw.Nodes ?? raw.nodes ?? null;
  const names = raw.NodeNames ?? raw.nodeNames ?? null;
  if (!isRecord(pod)) {
    return { ok: false, error: `ExtenderArgs.Pod: got ${kindOf(pod)}, rule "object": send the pod being scheduled` };
  }
  if (pod.metadata !== undefined && !isRecord(pod.metadata)) {
    return { ok: false, error: `ExtenderArgs.Pod.metadata: got ${kindOf(pod.metadata)}, rule "object"` };
  }
  if (pod.spec !== undefined && !isRecord(pod.spec)) {
    return { ok: false, error: `ExtenderArgs.Pod.spec: got ${kindOf(pod.spec)}, rule "object"` };
  }
  if (names !== null) {
    if (!Array.isArray(names)) {
      return { ok: false, error: `ExtenderArgs.NodeNames: got ${kindOf(names)}, rule "array of strings"` };
    }
    for (let i = 0; i < names.length; i++) {
      if (typeof names[i] !== "string") {
        return {
          ok: false,
          error: `ExtenderArgs.NodeNames[${i}]: got ${kindOf(names[i])}, rule "string": each entry is a node name`,
        };
      }
    }
  }
  if (nodes !== null) {
    if (!isRecord(nodes) || !Array.isArray(nodes.items)) {
      return { ok: false, error: `ExtenderArgs.Nodes: got ${kindOf(nodes)}, rule "NodeList with items[]"` };
    }
  }
  if (names === null && nodes === null) {
    return {
      ok: false,
      error: 'ExtenderArgs: Nodes and NodeNames are both null, rule "one of them is set": send the candidate nodes',
    };
  }
  return {
    ok: true,
    value: { Pod: pod as PodObject, Nodes: nodes as NodeList | null, NodeNames: names as string[] | null },
  };
}

export function checkBindingArgs(raw: unknown): Parsed<ExtenderBindingArgs> {
  if (!isRecord(raw)) {
    return {
      ok: false,
      error: `ExtenderBindingArgs: got ${kindOf(raw)}, rule "object": send {PodName, PodNamespace, PodUID, Node}`,
    };
  }
  const out: Record<string, string> = {};
  for (const key of ["PodName", "PodNamespace", "PodUID", "Node"] as const) {
    const camel = key[0]!.toLowerCase() + key.slice(1);
    const v = raw[key] ?? raw[camel];
    if (typeof v !== "string" || v === "") {
      return {
        ok: false,
        error: `ExtenderBindingArgs.${key}: got ${JSON.stringify(v) ?? "undefined"}, rule "non-empty string"`,
      };
    }
    out[key] = v;
  }
  return { ok: true, value: out as unknown as ExtenderBindingArgs };
}

export function filterError(error: string): ExtenderFilterResult {
  return { Nodes: null, NodeNames: null, FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: error };
}

/** Victims on one node, by UID (the nodeCacheCapable form). */
export interface MetaVictims {
  Pods: { UID: string }[];
  NumPDBViolations: number;
}

export interface ExtenderPreemptionResult {
  NodeNameToMetaVictims: Record<string, MetaVictims>;
}

export interface PreemptionCandidates {
  Pod: PodObject;
  /** node → victims' UIDs and PDB violations, whichever form the scheduler sent. */
  candidates: Map<string, MetaVictims>;
}

/** Reads ExtenderPreemptionArgs in either form (full victim Pods or UIDs only) into UIDs. */
export function checkPreemptionArgs(raw: unknown): Parsed<PreemptionCandidates> {
  if (!isRecord(raw)) {
    return {
      ok: false,
      error: `ExtenderPreemptionArgs: got ${kindOf(raw)}, rule "object": send {Pod, NodeNameToMetaVictims}`,
    };
  }
  const pod = raw.Pod ?? raw.pod;
  if (!isRecord(pod)) {
    return {
      ok: false,
      error: `ExtenderPreemptionArgs.Pod: got ${kindOf(pod)}, rule "object": send the preemptor pod`,
    };
  }
  const meta = raw.NodeNameToMetaVictims ?? raw.nodeNameToMetaVictims ?? null;
  const full = raw.NodeNameToVictims ?? raw.nodeNameToVictims ?? null;
  const field = meta !== null ? "NodeNameToMetaVictims" : "NodeNameToVictims";
  const source = meta ?? full;
  if (!isRecord(source)) {
    return {
      ok: false,
      error: `ExtenderPreemptionArgs.${field}: got ${kindOf(source)}, rule "map of node to victims": send the candidates`,
    };
  }
  const candidates = new Map<string, MetaVictims>();
  for (const [node, v] of Object.entries(source)) {
    if (!isRecord(v))
      return { ok: false, error: `ExtenderPreemptionArgs.${field}[${node}]: got ${kindOf(v)}, rule "object"` };
    const pods = v.Pods ?? v.pods ?? [];
    if (!Array.isArray(pods)) {
      return { ok: false, error: `ExtenderPreemptionArgs.${field}[${node}].Pods: got ${kindOf(pods)}, rule "array"` };
    }
    const uids: { UID: string }[] = [];
    for (let i = 0; i < pods.length; i++) {
      const p = pods[i] as unknown;
      const uid = isRecord(p)
        ? meta !== null
          ? (p.UID ?? p.uid)
          : isRecord(p.metadata)
            ? p.metadata.uid
            : undefined
        : undefined;
      if (typeof uid !== "string" || uid === "") {
        const want = meta !== null ? "UID" : "metadata.uid";
        return {
          ok: false,
          error: `ExtenderPreemptionArgs.${field}[${node}].Pods[${i}]: ${want} missing, rule "non-empty string"`,
        };
      }
      uids.push({ UID: uid });
    }
    const pdb = v.NumPDBViolations ?? v.numPDBViolations ?? 0;
    candidates.set(node, { Pods: uids, NumPDBViolations: typeof pdb === "number" ? pdb : 0 });
  }
  return { ok: true, value: { Pod: pod as PodObject, candidates } };
}
