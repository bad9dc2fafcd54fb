// The checks: pure functions from a NodeProbe to results. Upstream's five (driver, card count, link width,
// unrecoverable and recoverable VRAM errors) keep their names; the rest are ours. A value the probe could not read
// makes the check `unknown`, which is never `healthy`.
import { FATAL_XIDS } from "./kernel-log.js";
import type { GpuProbe, NodeProbe } from "./probe.js";

export type Status = "healthy" | "warning" | "unhealthy" | "unknown";

export const NODE_CHECKS = ["gpu_driver_status", "gpu_card_count"] as const;
export const GPU_CHECKS = [
  "gpu_link_status",
  "gpu_link_generation",
  "gpu_vram_unrecoverable_errors",
  "gpu_vram_recoverable_errors",
  "gpu_ecc_aggregate_errors",
  "gpu_memory_remapping",
  "gpu_xid_errors",
  "gpu_nvlink_status",
  "gpu_thermal_throttling",
  "gpu_power_throttling",
] as const;
export type CheckName = (typeof NODE_CHECKS)[number] | (typeof GPU_CHECKS)[number];
export const ALL_CHECKS: readonly CheckName[] = [...NODE_CHECKS, ...GPU_CHECKS];

/**
 * What a failure of the check means for placement. `fatal`: the node is tainted (the driver is gone, memory is
 * corrupt, the GPU fell off the bus). `exclude`: that GPU is handed out no more. `warn`: reported only. An unknown
 * result weighs as a failure of the check's grade but never taints: the node stays, the GPU does not.
 */
export const GRADE: Record<CheckName, "fatal" | "exclude" | "warn"> = {
  gpu_driver_status: "fatal",
  gpu_card_count: "fatal",
  gpu_link_status: "exclude",
  gpu_link_generation: "warn",
  gpu_vram_unrecoverable_errors: "fatal",
  gpu_vram_recoverable_errors: "warn",
  gpu_ecc_aggregate_errors: "warn",
  gpu_memory_remapping: "exclude",
  gpu_xid_errors: "fatal",
  gpu_nvlink_status: "exclude",
  gpu_thermal_throttling: "warn",
  gpu_power_throttling: "warn",
};

export interface CheckResult {
  check: CheckName;
  /** Device index; null for a node-level check. */
  gpu: number | null;
  uuid: string;
  status: Status;
  /** An unhealthy result that warrants tainting the node. */
  fatal: boolean;
  message: string;
}

export interface CheckOptions {
  /** Cards the node should have (GPU_CARD_COUNT upstream); undefined = unknown. */
  expectedCards?: number | undefined;
  /** Checks not run (e.g. ECC checks on cards without ECC). */
  skip?: ReadonlySet<CheckName>;
}

type Verdict = { status: Status; message: string; fatal?: boolean };
const UNKNOWN = (what: string): Verdict => ({
  status: "unknown",
  message: `${what} not readable ([N/A] or not supported)`,
});

function linkWidth(g: GpuProbe): Verdict {
  const { widthCurrent: cur, widthMax: max } = g.pcie;
  if (cur === null || max === null) return UNKNOWN("PCIe link width");
  if (cur < max) return { status: "unhealthy", message: `PCIe link width x${cur} of x${max}: the link trained down` };
  return { status: "healthy", message: `PCIe link width x${cur}` };
}

function linkGeneration(g: GpuProbe): Verdict {
  const { genCurrent: cur, genMax: max } = g.pcie;
  if (cur === null || max === null) return UNKNOWN("PCIe link generation");
  if (cur < max) {
    return {
      status: "warning",
      message: `PCIe gen ${cur} of ${max} (normal while idle; under load it means a bad link)`,
    };
  }
  return { status: "healthy", message: `PCIe gen ${cur}` };
}

function vramUnrecoverable(g: GpuProbe): Verdict {
  if (g.retiredPages.dbe !== null && g.retiredPages.dbe > 0) {
    return {
      status: "unhealthy",
      fatal: true,
      message: `${g.retiredPages.dbe} pages retired for double-bit ECC errors`,
    };
  }
  if (g.ecc.enabled === false) return { status: "unknown", message: "ECC is disabled: uncorrectable errors go unseen" };
  if (g.ecc.enabled === null) return UNKNOWN("ECC mode");
  const n = g.ecc.volatileUncorrected;
  if (n === null) return UNKNOWN("volatile uncorrectable ECC count");
  if (n > 0)
    return {
      status: "unhealthy",
      fatal: true,
      message: `${n} uncorrectable (double-bit) ECC errors since the last reset`,
    };
  return { status: "healthy", message: "no uncorrectable ECC errors" };
}

function vramRecoverable(g: GpuProbe): Verdict {
  if (g.retiredPages.sbe !== null && g.retiredPages.sbe > 0) {
    return { status: "warning", message: `${g.retiredPages.sbe} pages retired for single-bit ECC errors` };
  }
  if (g.ecc.enabled === false) return { status: "unknown", message: "ECC is disabled: correctable errors go unseen" };
  const n = g.ecc.volatileCorrected;
  if (g.ecc.enabled === null || n === null) return UNKNOWN("volatile correctable ECC count");
  if (n > 0) return { status: "warning", message: `${n} corrected (single-bit) ECC errors since the last reset` };
  return { status: "healthy", message: "no corrected ECC errors" };
}

function eccAggregate(g: GpuProbe): Verdict {
  if (g.ecc.enabled === false) return { status: "unknown", message: "ECC is disabled" };
  const n = g.ecc.aggregateUncorrected;
  if (n === null) return UNKNOWN("aggregate uncorrectable ECC count");
  if (n > 0) return { status: "warning", message: `${n} uncorrectable ECC errors over the card's lifetime` };
  return { status: "healthy", message: "no uncorrectable ECC errors over the card's lifetime" };
}

function memoryRemapping(g: GpuProbe): Verdict {
  const r = g.remappedRows;
  if (g.rowRemapping === true) {
    if (r.failure === true) {
      return { status: "unhealthy", fatal: true, message: "row remapping failed: the GPU needs replacing" };
    }
    if (r.pending === true) return { status: "unhealthy", message: "row remapping pending: reset the GPU to apply it" };
    if (r.failure === null || r.pending === null) return UNKNOWN("row remapping state");
    return {
      status: "healthy",
      message: `no pending remaps (${r.uncorrectable ?? 0} rows remapped for uncorrectable errors)`,
    };
  }
  const pending = g.retiredPages.pending;
  if (pending === true) return { status: "unhealthy", message: "page retirement pending: reset the GPU to apply it" };
  if (pending === null) return UNKNOWN("row remapping and page retirement state");
  return { status: "healthy", message: "no pending page retirement" };
}

function xidErrors(g: GpuProbe): Verdict {
  if (g.xids === null) return UNKNOWN("kernel log (XID errors)");
  if (g.xids.length === 0) return { status: "healthy", message: "no recent XID errors" };
  const fatal = g.xids.filter((x) => FATAL_XIDS.has(x.code));
  const shown = (fatal.length > 0 ? fatal : g.xids).slice(-1)[0]!;
  const codes = [...new Set(g.xids.map((x) => x.code))].join(", ");
  return fatal.length > 0
    ? { status: "unhealthy", fatal: true, message: `recent XID ${codes}; latest: ${shown.text}` }
    : { status: "warning", message: `recent XID ${codes}; latest: ${shown.text}` };
}

function nvlinkStatus(g: GpuProbe): Verdict {
  if (g.nvlinks === null) return UNKNOWN("NVLink status");
  if (g.nvlinks.length === 0) return { status: "healthy", message: "no NVLink" };
  const down = g.nvlinks.flatMap((up, i) => (up ? [] : [i]));
  if (down.length > 0) {
    return {
      status: "unhealthy",
      message: `NVLink ${down.join(", ")} inactive (${g.nvlinks.length - down.length}/${g.nvlinks.length} up)`,
    };
  }
  return { status: "healthy", message: `${g.nvlinks.length} NVLinks active` };
}

function throttled(value: boolean | null, what: string): Verdict {
  if (value === null) return UNKNOWN(`${what} state`);
  return value
    ? { status: "warning", message: `${what} active: clocks are held down` }
    : { status: "healthy", message: `no ${what}` };
}

const GPU_VERDICTS: Record<(typeof GPU_CHECKS)[number], (g: GpuProbe) => Verdict> = {
  gpu_link_status: linkWidth,
  gpu_link_generation: linkGeneration,
  gpu_vram_unrecoverable_errors: vramUnrecoverable,
  gpu_vram_recoverable_errors: vramRecoverable,
  gpu_ecc_aggregate_errors: eccAggregate,
  gpu_memory_remapping: memoryRemapping,
  gpu_xid_errors: xidErrors,
  gpu_nvlink_status: nvlinkStatus,
  gpu_thermal_throttling: (g) => throttled(g.throttle.thermal, "thermal slowdown"),
  gpu_power_throttling: (g) => throttled(g.throttle.powerBrake, "hardware power brake"),
};

/** Every check for the node; driver and card-count failures stop the per-GPU checks, as upstream. */
export function runChecks(probe: NodeProbe, opts: CheckOptions = {}): CheckResult[] {
  const skip = opts.skip ?? new Set<CheckName>();
  const out: CheckResult[] = [];
  const node = (check: CheckName, v: Verdict) =>
    out.push({ check, gpu: null, uuid: "", status: v.status, fatal: v.status === "unhealthy", message: v.message });
  if (!probe.driver.ok) {
    node("gpu_driver_status", { status: "unhealthy", message: probe.driver.message || "GPU driver not reachable" });
    return out;
  }
  node("gpu_driver_status", { status: "healthy", message: "GPU driver is loaded" });
  if (!skip.has("gpu_card_count")) {
    const seen = probe.listed ?? probe.gpus.length;
    if (opts.expectedCards === undefined) {
      node("gpu_card_count", { status: "unknown", message: `${seen} cards found; expected count not configured` });
    } else if (seen !== opts.expectedCards) {
      node("gpu_card_count", {
        status: "unhealthy",
        message: `GPU card count mismatch: got ${seen}, expected ${opts.expectedCards}`,
      });
      return out;
    } else {
      node("gpu_card_count", { status: "healthy", message: `${seen} cards, as expected` });
    }
  }
  for (const g of probe.gpus) {
    for (const check of GPU_CHECKS) {
      if (skip.has(check)) continue;
      const v = GPU_VERDICTS[check](g);
      const fatal = v.status === "unhealthy" && (v.fatal === true || GRADE[check] === "fatal");
      out.push({ check, gpu: g.index, uuid: g.uuid, status: v.status, fatal, message: v.message });
    }
  }
  return out;
}

/** What the results mean for placement. */
export interface Assessment {
  /** Why the whole node must be refused (a fatal result), or null. */
  nodeFault: { check: CheckName; message: string } | null;
  /** Device index → why it is handed out no more. */
  failing: Map<number, string>;
  /** The node's overall status, worst first: unhealthy > unknown > warning > healthy. */
  overall: Status;
}

const RANK: Record<Status, number> = { healthy: 0, warning: 1, unknown: 2, unhealthy: 3 };

export function assess(results: readonly CheckResult[]): Assessment {
  let nodeFault: Assessment["nodeFault"] = null;
  const failing = new Map<number, string>();
  let overall: Status = "healthy";
  for (const r of results) {
    if (RANK[r.status] > RANK[overall]) overall = r.status;
    if (r.fatal && !nodeFault) {
      nodeFault = { check: r.check, message: r.gpu === null ? r.message : `GPU ${r.gpu}: ${r.message}` };
    }
    const counts = r.status === "unhealthy" || (r.status === "unknown" && GRADE[r.check] !== "warn");
    if (r.gpu !== null && counts && !failing.has(r.gpu)) failing.set(r.gpu, `${r.check}: ${r.message}`);
  }
  return { nodeFault, failing, overall };
}
