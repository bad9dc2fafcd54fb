// The layering of DESIGN.md, enforced: what each folder may import, and no import cycles anywhere.
import { expect } from "chai";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { PRODUCT_FOLDERS, repoRoot, sourceFiles } from "../support/source-tree.js";

const root = repoRoot;
const PRODUCT = PRODUCT_FOLDERS;

/** Folder → folders (or folder prefixes) of ours it may import, besides itself. */
const ALLOWED: Record<string, string[]> = {
  api: [],
  serving: [],
  kube: ["api"],
  engines: ["api"],
  webhooks: ["api", "kube", "serving"],
  extender: ["api", "kube", "serving"],
  controllers: ["api", "kube", "engines"],
  router: ["api", "kube", "engines", "serving"],
  runtime: ["engines", "api", "serving"],
  diagnostics: ["api", "kube"],
  "kvcache-watcher": ["api", "kube"],
  simulator: ["api", "serving"],
  cluster: ["api", "kube", "simulator"],
  optimizer: ["api", "kube", "engines", "serving"],
  // Entry points, benchmarks and tests may use any deployable, never the other way round; a benchmark shares only
  // test/support with the tests (whose unit tests check the benchmarks' own code), and the CLI imports neither.
  cli: PRODUCT,
  bench: [...PRODUCT, "cli", "test/support"],
  test: [...PRODUCT, "cli", "bench"],
};

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

function localImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const targets: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec) continue;
    targets.push(path.resolve(path.dirname(file), spec).replace(/\.js$/, ".ts"));
  }
  return targets;
}

const layers = Object.keys(ALLOWED).filter((d) => {
  try {
    return statSync(path.join(root, d)).isDirectory();
  } catch {
    return false;
  }
});
const files = layers.flatMap((d) => sourceFiles(path.join(root, d)));
const rel = (f: string) => path.relative(root, f);

describe("architecture", () => {
  it("each folder imports only what DESIGN.md allows (deployables never import each other)", () => {
    const violations: string[] = [];
    for (const file of files) {
      const own = rel(file).split(path.sep)[0] as string;
      for (const target of localImports(file)) {
        const t = rel(target);
        if (t.startsWith(own + "/")) continue;
        if (!ALLOWED[own]?.some((a) => t.startsWith(a + "/"))) violations.push(`${rel(file)} imports ${t}`);
      }
    }
    expect(violations, violations.join("\n")).to.deep.equal([]);
  });

  it("has no import cycles", () => {
    const graph = new Map(files.map((f) => [f, localImports(f).filter((t) => files.includes(t))]));
    const state = new Map<string, "visiting" | "done">();
    const cycles: string[] = [];
    const visit = (f: string, trail: string[]) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "visiting") {
        cycles.push([...trail.slice(trail.indexOf(f)), f].map(rel).join(" -> "));
        return;
      }
      state.set(f, "visiting");
      for (const t of graph.get(f) ?? []) visit(t, [...trail, f]);
      state.set(f, "done");
    };
    for (const f of files) visit(f, []);
    expect(cycles, cycles.join("\n")).to.deep.equal([]);
  });
});
