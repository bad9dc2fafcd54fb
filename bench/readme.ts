// `npm run bench:readme`: renders the README's benchmark table from bench/results/*.json (see bench/lib/readme-block.ts).
// `--check` changes nothing and exits 1 when README.md differs from what the results render.
import { writeFile } from "node:fs/promises";
import { README_PATH, renderReadme } from "./lib/readme-block.js";

async function main(): Promise<void> {
  const check = process.argv.includes("--check");
  const { current, rendered } = await renderReadme();
  if (current === rendered) {
    console.error("README.md's benchmark table matches bench/results/");
    return;
  }
  if (check) {
    console.error("README.md's benchmark table differs from bench/results/: run `npm run bench:readme` and commit it");
    process.exit(1);
  }
  await writeFile(README_PATH, rendered);
  console.error("rewrote the benchmark table in README.md from bench/results/");
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
