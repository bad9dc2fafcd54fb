// ExtenderArgs from a request body, with each candidate node resolved against the cluster state. Names-only bodies
// take the byte scanner; everything else (full Node lists, unusual bodies, bad input) the general parser, whose
// errors name the field and the rule.
import { scanNamesOnlyArgs, type KnownNameList } from "./args-scan.js";
import type { NodeRecord } from "./node.js";
import type { ClusterState } from "./state.js";
import { checkExtenderArgs, parseJson, type NodeList, type Parsed, type PodObject } from "./wire.js";

export interface CandidateArgs {
  Pod: PodObject;
  /** Full Node objects, when the scheduler sent them (not nodeCacheCapable). */
  Nodes: NodeList | null;
  /** Names-only: the candidate names, and the state's record for each (undefined = not in the cache). */
  names: readonly string[] | null;
  records: readonly (NodeRecord | undefined)[] | null;
  /** Names-only, read by the scanner with every name known: the list, to read the next request by. */
  list?: KnownNameList;
}

export function readExtenderArgs(body: Buffer, state: ClusterState, known?: KnownNameList): Parsed<CandidateArgs> {
  const index = state.nameIndex();
  const scanned = scanNamesOnlyArgs(body, index.table, known);
  if (scanned) {
    const pod = parseJson(scanned.podJson);
    if (pod.ok) {
      const checked = checkExtenderArgs({ Pod: pod.value, Nodes: null, NodeNames: [] });
      if (!checked.ok) return checked;
      const n = scanned.indices.length;
      const names = new Array<string>(n);
      const records = new Array<NodeRecord | undefined>(n);
      for (let i = 0; i < n; i++) {
        const at = scanned.indices[i]!;
        names[i] = at < 0 ? scanned.unknown.get(i)! : index.table.names[at]!;
        records[i] = at < 0 ? undefined : index.records[at];
      }
      return {
        ok: true,
        value: {
          Pod: checked.value.Pod,
          Nodes: null,
          names,
          records,
          ...(scanned.list && { list: scanned.list }),
        },
      };
    }
  }
  const parsed = parseJson(body.toString("utf8"));
  const args = parsed.ok ? checkExtenderArgs(parsed.value) : parsed;
  if (!args.ok) return args;
  const { Pod, Nodes, NodeNames } = args.value;
  return {
    ok: true,
    value: { Pod, Nodes, names: NodeNames, records: NodeNames ? NodeNames.map((n) => state.node(n)) : null },
  };
}
