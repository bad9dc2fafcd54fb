// Fake heterogeneous GPU nodes: a small YAML of node groups becomes v1 Node objects that kwok manages.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { Scheduling } from "../api/labels.js";
import { harnessFile } from "./source-file.js";

/** The annotation kwok is started with (`--manage-nodes-with-annotation-selector`). */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";
export const KWOK_NODE_VALUE = "fake";

export interface NodeGroup {
  /** Node name prefix; nodes are `<name>-<index>`. */
  name: string;
  count: number;
  gpusPerNode: number;
  /** `nvidia.com/gpu.product` label (GPU feature discovery spelling, e.g. NVIDIA-L4). Required when gpusPerNode > 0. */
  product?: string;
  instanceType?: string;
  cpu?: string;
  memory?: string;
  pods?: number;
  labels?: Record<string, string>;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Parses and checks a node-group document; errors name the field, the value and the rule. */
export function parseNodeGroups(text: string, source = "node groups"): NodeGroup[] {
  const doc = parse(text) as unknown;
  const groups = (doc as { groups?: unknown } | null)?.groups;
  if (!Array.isArray(groups)) {
    throw new Error(`${source}: field "groups" must be a list of node groups (got ${JSON.stringify(groups)})`);
  }
  return groups.map((raw: unknown, i): NodeGroup => {
    const g = raw as Partial<NodeGroup>;
    const at = `${source}: groups[${i}]`;
    if (typeof g.name !== "string" || !NAME.test(g.name)) {
      throw new Error(`${at}.name = ${JSON.stringify(g.name)}: must be a DNS label (lower-case letters, digits, '-')`);
    }
    if (!Number.isInteger(g.count) || (g.count as number) < 1) {
      throw new Error(`${at}.count = ${JSON.stringify(g.count)}: must be an integer >= 1`);
    }
    if (!Number.isInteger(g.gpusPerNode) || (g.gpusPerNode as number) < 0) {
      throw new Error(`${at}.gpusPerNode = ${JSON.stringify(g.gpusPerNode)}: must be an integer >= 0`);
    }
    if ((g.gpusPerNode as number) > 0 && (typeof g.product !== "string" || g.product === "")) {
      throw new Error(
        `${at}.product = ${JSON.stringify(g.product)}: required (a GPU product name) when gpusPerNode > 0`,
      );
    }
    return g as NodeGroup;
  });
}

export function loadNodeGroups(file: string): NodeGroup[] {
  return parseNodeGroups(readFileSync(file, "utf8"), file);
}

export const DEFAULT_NODE_GROUPS_FILE = harnessFile("gpu-nodes.yaml");

/** The v1 Node objects for the groups (status included: create accepts it, kwok keeps the given capacity). */
export function nodeObjects(groups: NodeGroup[]): Record<string, unknown>[] {
  const nodes: Record<string, unknown>[] = [];
  for (const g of groups) {
    for (let i = 0; i < g.count; i++) {
      const name = `${g.name}-${i}`;
      const capacity: Record<string, string> = {
        cpu: g.cpu ?? "32",
        memory: g.memory ?? "128Gi",
        pods: String(g.pods ?? 110),
        "ephemeral-storage": "1Ti",
      };
      const labels: Record<string, string> = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        type: "kwok",
        ...(g.instanceType ? { "node.kubernetes.io/instance-type": g.instanceType } : {}),
        ...g.labels,
      };
      if (g.gpusPerNode > 0) {
        capacity[Scheduling.gpuResource] = String(g.gpusPerNode);
        labels[Scheduling.gpuProductLabel] = g.product as string;
        labels["nvidia.com/gpu.count"] = String(g.gpusPerNode);
        labels["nvidia.com/gpu.present"] = "true";
      }
      nodes.push({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name, labels, annotations: { [KWOK_NODE_ANNOTATION]: KWOK_NODE_VALUE } },
        spec: {},
        status: { capacity, allocatable: { ...capacity } },
      });
    }
  }
  return nodes;
}
