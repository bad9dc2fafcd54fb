// What one probe of a node's accelerators observed, backend-neutral. `null` everywhere means unknown: the backend
// could not read the value (nvidia-smi printed `[N/A]` or `[Not Supported]`, the field is missing, a command failed).
// Checks treat unknown as unknown, never as healthy.

/** One XID event from the kernel log, attributed to a GPU by PCI bus id. */
export interface XidEvent {
  code: number;
  /** ms since epoch; NaN when the log line carried no absolute time. */
  atMs: number;
  text: string;
}

export interface GpuProbe {
  index: number;
  uuid: string;
  name: string;
  /** PCI bus id as nvidia-smi prints it, e.g. `00000000:18:00.0`. */
  busId: string | null;
  /** Row remapping (Ampere and newer) instead of page retirement; null = unknown. */
  rowRemapping: boolean | null;
  pcie: {
    genCurrent: number | null;
    genMax: number | null;
    widthCurrent: number | null;
    widthMax: number | null;
  };
  ecc: {
    enabled: boolean | null;
    volatileCorrected: number | null;
    volatileUncorrected: number | null;
    aggregateCorrected: number | null;
    aggregateUncorrected: number | null;
  };
  retiredPages: { sbe: number | null; dbe: number | null; pending: boolean | null };
  remappedRows: {
    correctable: number | null;
    uncorrectable: number | null;
    pending: boolean | null;
    failure: boolean | null;
  };
  /** Per NVLink: active or not. `[]` = the GPU has no NVLink; null = unknown. */
  nvlinks: boolean[] | null;
  throttle: { thermal: boolean | null; powerBrake: boolean | null };
  /** XIDs logged for this GPU within the probe's window; null = the kernel log could not be read. */
  xids: XidEvent[] | null;
}

export interface NodeProbe {
  /** Could the driver be reached at all; `message` is the tool's own words when it could not. */
  driver: { ok: boolean; message: string };
  /** Cards the driver lists; null when the driver could not be reached. */
  listed: number | null;
  gpus: GpuProbe[];
}

/** A way to look at a node's accelerators. */
export interface ProbeBackend {
  readonly name: string;
  probe(signal?: AbortSignal): Promise<NodeProbe>;
}

export function unknownGpu(index: number, uuid = "", name = ""): GpuProbe {
  return {
    index,
    uuid,
    name,
    busId: null,
    rowRemapping: null,
    pcie: { genCurrent: null, genMax: null, widthCurrent: null, widthMax: null },
    ecc: {
      enabled: null,
      volatileCorrected: null,
      volatileUncorrected: null,
      aggregateCorrected: null,
      aggregateUncorrected: null,
    },
    retiredPages: { sbe: null, dbe: null, pending: null },
    remappedRows: { correctable: null, uncorrectable: null, pending: null, failure: null },
    nvlinks: null,
    throttle: { thermal: null, powerBrake: null },
    xids: null,
  };
}
