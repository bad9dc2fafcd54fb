import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const VALID_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../fixtures/manifests/valid");

export interface Manifest {
  file: string;
  doc: Record<string, unknown>;
}

let parsed: Manifest[] | undefined;

/** Every document of every valid fixture file, parsed once (callers clone before changing one). */
export function validManifests(): Manifest[] {
  parsed ??= readdirSync(VALID_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(path.join(VALID_DIR, file), "utf8")).map((d) => ({
        file,
        doc: (Array.isArray(d) ? d[0] : d).toJS() as Record<string, unknown>,
      })),
    );
  return parsed;
}

/** A fixture opened up for mutation in tests: any field may be read or replaced. */
export type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A deep copy of the valid fixture named `name` (metadata.name). */
export function fixture(name: string): Doc {
  const found = validManifests().find((m) => (m.doc.metadata as { name?: string }).name === name);
  if (!found) throw new Error(`no valid fixture named ${name}`);
  return structuredClone(found.doc);
}
