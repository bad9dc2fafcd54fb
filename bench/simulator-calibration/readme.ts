import { atMost, numberAt, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { fittedMaxErrorPct: atMost(15), holdoutMaxErrorPct: atMost(10) };

const entry: ReadmeEntry = {
  context: (r) =>
    `engine model in virtual time against published figures; tolerance ${numberAt(r.params, "tolerance_pct") ?? "?"} %`,
  figures: [
    {
      key: "max_abs_error_pct",
      label: "max error on the figures fitted",
      unit: " %",
      target: TARGETS.fittedMaxErrorPct,
    },
    {
      key: "holdout_max_abs_error_pct",
      label: "max error on held-out figures",
      unit: " %",
      digits: 1,
      target: TARGETS.holdoutMaxErrorPct,
    },
    { key: "holdout_median_abs_error_pct", label: "median held-out error", unit: " %", digits: 1 },
  ],
  notes: (r) => {
    const within = numberAt(r.summary, "holdout_within_tolerance");
    const of = numberAt(r.summary, "holdout_figures");
    return [
      ...(within !== undefined && of !== undefined
        ? [`${within} of ${of} held-out figures within ${String(r.params.tolerance_pct)} %`]
        : []),
    ];
  },
};
export default entry;
