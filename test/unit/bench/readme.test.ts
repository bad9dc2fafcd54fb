import { expect } from "chai";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { atLeast, atMost, renderFigure, type ReadmeEntry } from "../../../bench/lib/figures.js";
import {
  BENCH_DIR,
  BLOCK_BEGIN,
  BLOCK_END,
  loadEntries,
  loadResults,
  renderBlock,
  renderReadme,
  spliceBlock,
} from "../../../bench/lib/readme-block.js";
import type { BenchResult } from "../../../bench/lib/result.js";

const result = (name: string, summary: Record<string, number>, extra: Partial<BenchResult> = {}): BenchResult => ({
  name,
  date: "2026-12-01T00:00:00.000Z",
  machine: { cpus: 2, cpuModel: "x", node: "v20", platform: "linux", cpuReferenceMs: [14, 15], loadAverage1m: [1, 2] },
  params: {},
  summary,
  series: {},
  ...extra,
});

describe("README benchmark table", () => {
  it("README.md's table is what bench/results/*.json render (run `npm run bench:readme` after measuring)", async () => {
    const { current, rendered } = await renderReadme();
    const block = (text: string) => text.slice(text.indexOf(BLOCK_BEGIN), text.indexOf(BLOCK_END));
    expect(block(current)).to.equal(block(rendered));
  });

  it("every declared readme.ts sits beside a benchmark", async () => {
    for (const name of (await loadEntries()).keys())
      expect(existsSync(path.join(BENCH_DIR, name, "main.ts")), `bench/${name}/main.ts`).to.equal(true);
  });

  it("says met, MISSED or not measured beside a target", () => {
    const fig = { key: "p99_ms", label: "p99", unit: " ms", target: atMost(3) };
    expect(renderFigure(fig, { p99_ms: 2.5 })).to.equal("p99 2.50 ms [≤ 3 ms: met]");
    expect(renderFigure(fig, { p99_ms: 3.5 })).to.equal("p99 3.50 ms [≤ 3 ms: **MISSED**]");
    expect(renderFigure(fig, {})).to.equal("p99: not in the result file (`p99_ms`) [≤ 3 ms: not measured]");
    expect(renderFigure({ key: "r", label: "ratio", unit: "×", target: atLeast(0.85) }, { r: 0.85 })).to.contain(
      ": met]",
    );
    expect(renderFigure({ key: "n", label: "req/s", digits: 0 }, { n: 14284.4 })).to.equal("req/s 14,284");
    // A value that rounds onto the bound is written with the decimals that show which side of it it is on.
    const ratio = { key: "r", label: "ratio", unit: "×", target: atLeast(1.2) };
    expect(renderFigure(ratio, { r: 1.197 })).to.equal("ratio 1.197× [≥ 1.2×: **MISSED**]");
    expect(renderFigure(ratio, { r: 1.2 })).to.equal("ratio 1.20× [≥ 1.2×: met]");
    expect(renderFigure({ key: "n", label: "pods/s", target: atLeast(300) }, { n: 299.6 })).to.equal(
      "pods/s 299.6 [≥ 300: **MISSED**]",
    );
    expect(renderFigure({ key: "p", label: "p50", unit: " ms", target: atMost(0.3) }, { p: 0.3004 })).to.equal(
      "p50 0.3004 ms [≤ 0.3 ms: **MISSED**]",
    );
  });

  it("renders a result nobody declared from its summary keys, and a declared benchmark without a result", () => {
    const block = renderBlock(
      [{ name: "kv-cache-reuse", result: result("kv-cache-reuse", { hit_rate: 0.5 }) }],
      new Map<string, ReadmeEntry>([["autoscaler-reaction", { figures: [] }]]),
    );
    expect(block).to.contain("| `kv-cache-reuse` | `hit_rate` 0.500; no targets declared.");
    expect(block).to.contain("load 1.00→2.00");
    expect(block).to.contain("| `autoscaler-reaction` | no result file yet");
    expect(block.startsWith(BLOCK_BEGIN) && block.endsWith(BLOCK_END)).to.equal(true);
  });

  it("a note that cannot read its result, a --quick run and an old file without machine facts are said, not thrown", () => {
    const entry: ReadmeEntry = {
      figures: [],
      notes: () => {
        throw new Error("no rounds");
      },
    };
    const old = result("x", {}, { quick: true, machine: { cpus: 2, cpuModel: "x", node: "v20", platform: "linux" } });
    const block = renderBlock([{ name: "x", result: old }], new Map([["x", entry]]));
    expect(block).to.contain("notes could not be read from the result: no rounds");
    expect(block).to.contain("a --quick run, not a measurement");
    expect(block).to.contain("no speed reference recorded; no load recorded");
  });

  it("reads a directory with an unreadable file without failing the others", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "bench-results-"));
    try {
      await writeFile(path.join(dir, "a.json"), JSON.stringify(result("a", { x: 1 })));
      await writeFile(path.join(dir, "b.json"), "{ not json");
      await writeFile(path.join(dir, "c.json"), JSON.stringify({ name: "c" }));
      const loaded = await loadResults(dir);
      expect(loaded.map((l) => [l.name, "error" in l])).to.deep.equal([
        ["a", false],
        ["b", true],
        ["c", true],
      ]);
      expect(renderBlock(loaded, new Map())).to.contain("| `c` | result file unreadable: no `summary` object |");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a README without the markers, naming them", () => {
    expect(() => spliceBlock("# readme\n", "x")).to.throw(BLOCK_BEGIN);
    expect(spliceBlock(`a\n${BLOCK_BEGIN}\nold\n${BLOCK_END}\nb`, "NEW")).to.equal("a\nNEW\nb");
  });
});
