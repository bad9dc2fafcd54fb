// Files that ship next to the harness sources (build.sh, gpu-nodes.yaml). Run through tsx they sit beside this module;
// from the compiled CLI (dist/cluster/) they are found back in the source tree.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function harnessFile(name: string): string {
  const beside = fileURLToPath(new URL(`./${name}`, import.meta.url));
  if (existsSync(beside)) return beside;
  const source = fileURLToPath(new URL(`../../cluster/${name}`, import.meta.url));
  return existsSync(source) ? source : beside;
}
