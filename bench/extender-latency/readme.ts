import { atMost, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { p99MsAt5000Nodes: atMost(3) };

const entry: ReadmeEntry = {
  context: () => "filter then prioritize over HTTP keep-alive to the extender in its own process",
  figures: [
    { key: "p50_ms_5000_nodes", label: "p50 at 5,000 nodes", unit: " ms" },
    { key: "p99_ms_5000_nodes", label: "p99 at 5,000 nodes", unit: " ms", target: TARGETS.p99MsAt5000Nodes },
    { key: "p99_ms_5000_nodes_gc_flags", label: "p99 at 5,000, extender with GC flags", unit: " ms" },
    { key: "p99_ms_5000_nodes_reshuffled", label: "every node, reshuffled", unit: " ms" },
    { key: "p99_ms_1000_nodes", label: "p99 at 1,000", unit: " ms" },
    // Right after a start V8 is still compiling: reported, held to no target.
    { key: "p99_ms_5000_nodes_cold", label: "first 1,000 cycles after start: p99 at 5,000", unit: " ms" },
    { key: "p99_ms_1000_nodes_cold", label: "at 1,000", unit: " ms" },
    { key: "full_over_names_ratio", label: "full Node objects over names-only", unit: "×", digits: 0 },
  ],
  notes: (r) => {
    const notes: string[] = [];
    if (typeof r.params.candidates === "string") notes.push(`node lists: ${r.params.candidates}`);
    if (typeof r.params.measured === "string") notes.push(`measured: ${r.params.measured}`);
    if (typeof r.params.schedule === "string") notes.push(`schedule: ${r.params.schedule}`);
    if (typeof r.params.gcFlagsArm === "string") notes.push(`GC flags arm: ${r.params.gcFlagsArm}`);
    return notes;
  },
};
export default entry;
