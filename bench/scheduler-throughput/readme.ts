import { atLeast, formatNumber, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { withOverWithoutExtender: atLeast(0.85), podsPerSecondWithExtender: atLeast(300) };

const entry: ReadmeEntry = {
  context: (r) =>
    `${formatNumber(Number(r.params.pods), 0)} pods onto ${formatNumber(Number(r.params.nodes), 0)} kwok nodes, Kubernetes ${String(r.params.kubernetes)}; apiserver, etcd, kube-scheduler, kwok and the extender share the machine`,
  figures: [
    {
      key: "extender_to_plain_ratio",
      label: "with the extender binding over without",
      unit: "×",
      target: TARGETS.withOverWithoutExtender,
    },
    { key: "extender_to_plain_ratio_spread", label: "spread over rounds", unit: "×" },
    {
      key: "pods_per_s_with_extender",
      label: "pods/s with the extender binding",
      digits: 0,
      target: TARGETS.podsPerSecondWithExtender,
    },
    { key: "pods_per_s_with_extender_scheduler_binds", label: "with kube-scheduler binding", digits: 0 },
    { key: "pods_per_s_without_extender", label: "without the extender", digits: 0 },
    {
      key: "noop_extender_to_plain_ratio",
      label: "reference, an extender that decides nothing but binds, over without",
      unit: "×",
    },
    { key: "pods_per_s_with_noop_extender", label: "its pods/s", digits: 0 },
    { key: "extender_bind_mean_ms", label: "extender bind mean", unit: " ms" },
    { key: "extender_bind_apiserver_mean_ms", label: "of which the Binding POST", unit: " ms" },
  ],
  notes: (r) => {
    const rounds = r.params.rounds;
    const notes = [typeof rounds === "number" ? `median of ${rounds} rounds` : "one round of each pass"];
    const cpu = (key: string) => r.summary[`cpu_ms_per_pod_${key}`];
    const [plain, noop, ours] = ["without_extender", "with_noop_extender", "with_extender"].map((p) => cpu(`all_${p}`));
    if (typeof plain === "number" && typeof noop === "number" && typeof ours === "number") {
      notes.push(
        `CPU per pod over every process: without an extender ${formatNumber(plain, 2)} ms, with the no-op one ` +
          `${formatNumber(noop, 2)} ms (itself ${formatNumber(Number(cpu("noop_extender_with_noop_extender")), 2)}), ` +
          `with ours ${formatNumber(ours, 2)} ms (itself ${formatNumber(Number(cpu("extender_with_extender")), 2)})`,
      );
    }
    return notes;
  },
};
export default entry;
