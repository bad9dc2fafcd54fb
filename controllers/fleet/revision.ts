// Template revisions: the hash that names a replica set (and labels its RayClusters), the comparison that finds the
// replica set of the fleet's current template, and the deployment.kubernetes.io/revision annotations.
import { Orchestration } from "../../api/labels.js";

/** A RayCluster template as fleets and replica sets carry it. */
export interface ClusterTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } & Record<string, unknown>;
  spec: Record<string, unknown>;
}

/** JSON with object keys sorted, so equal templates hash and compare equal whatever order their keys came in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function fnv32a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

// The alphabet Kubernetes encodes hashes with (no vowels, no look-alike digits): names never spell words.
const SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** The template's hash as the pod-template-hash label value; `collisionCount` changes it after a name clash. */
export function templateHash(template: ClusterTemplate, collisionCount = 0): string {
  const text = canonicalJson(withoutHashLabel(template)) + (collisionCount > 0 ? String(collisionCount) : "");
  return [...String(fnv32a(text))].map((c) => SAFE_ALPHABET[c.charCodeAt(0) % SAFE_ALPHABET.length]).join("");
}

/** The template without the pod-template-hash label (a replica set's template carries it, the fleet's does not). */
export function withoutHashLabel(template: ClusterTemplate): ClusterTemplate {
  const labels = { ...template.metadata?.labels };
  delete labels[Orchestration.podTemplateHash];
  const metadata = { ...template.metadata, labels };
  if (Object.keys(labels).length === 0) delete (metadata as { labels?: unknown }).labels;
  return { ...template, metadata };
}

export function sameTemplate(a: ClusterTemplate | undefined, b: ClusterTemplate | undefined): boolean {
  if (!a || !b) return false;
  return canonicalJson(withoutHashLabel(a)) === canonicalJson(withoutHashLabel(b));
}

/** The revision annotation as a number (0 when absent or not a number). */
export function revisionOf(annotations: Record<string, string> | undefined): number {
  const n = Number(annotations?.[Orchestration.revision]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * The annotations a replica set gets when it becomes the fleet's current revision `revision`: a replica set that
 * was current before (a rollback) keeps its earlier revision numbers in revision-history.
 */
export function revisionAnnotations(
  annotations: Record<string, string> | undefined,
  revision: number,
): Record<string, string> {
  const next: Record<string, string> = { ...annotations, [Orchestration.revision]: String(revision) };
  const previous = revisionOf(annotations);
  if (previous > 0 && previous !== revision) {
    const history = annotations?.[Orchestration.revisionHistory];
    next[Orchestration.revisionHistory] = history ? `${history},${previous}` : String(previous);
  }
  return next;
}
