import type { Command } from "commander";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { crdFiles } from "../api/index.js";

export async function writeCrds(outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const { file, yaml } of crdFiles()) {
    const target = path.join(outDir, file);
    await writeFile(target, yaml);
    written.push(target);
  }
  return written;
}

export function registerGenCrds(program: Command): void {
  program
    .command("gen-crds")
    .description("write the CustomResourceDefinition YAML generated from the schemas in api/")
    .option("--out <dir>", "output directory", "charts/aibrix-ts/crds")
    .action(async (opts: { out: string }) => {
      for (const file of await writeCrds(opts.out)) console.log(`wrote ${file}`);
    });
}
