// The repository's own source: where it is, which folders ship, and the TypeScript files under a folder. Shared by
// the checks that read the code itself (layering, function lengths).
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The folders that ship: every deployable and what they share (the CLI wires them and is listed apart). */
export const PRODUCT_FOLDERS = [
  "api",
  "serving",
  "kube",
  "engines",
  "webhooks",
  "extender",
  "controllers",
  "router",
  "runtime",
  "diagnostics",
  "kvcache-watcher",
  "simulator",
  "cluster",
  "optimizer",
];

/** Every .ts file under `dir` (declaration files left out), as full paths. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}
