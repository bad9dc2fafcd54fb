// The fault-injection backend: a TOML file with upstream's mock fields (ai-accelerator-tool's gpu_mock_conf.toml)
// describes the node, and every probe reads it again, so a test or an operator injects a fault by rewriting it.
// Cards without a section are healthy H100s.
import { readFile } from "node:fs/promises";
import { parse as parseToml } from "smol-toml";
import { unknownGpu, type GpuProbe, type NodeProbe, type ProbeBackend } from "./probe.js";

/** nvmlReturn_t names, for the driver check's message. */
const NVML_RETURN: Record<number, string> = {
  1: "NVML_ERROR_UNINITIALIZED",
  2: "NVML_ERROR_INVALID_ARGUMENT",
  3: "NVML_ERROR_NOT_SUPPORTED",
  4: "NVML_ERROR_NO_PERMISSION",
  6: "NVML_ERROR_NOT_FOUND",
  9: "NVML_ERROR_DRIVER_NOT_LOADED",
  10: "NVML_ERROR_TIMEOUT",
  12: "NVML_ERROR_LIBRARY_NOT_FOUND",
  14: "NVML_ERROR_CORRUPTED_INFOROM",
  15: "NVML_ERROR_GPU_IS_LOST",
  16: "NVML_ERROR_RESET_REQUIRED",
  18: "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
  999: "NVML_ERROR_UNKNOWN",
};

/** nvmlDeviceArchitecture_t: 7 = Ampere, the first with row remapping instead of page retirement. */
const AMPERE = 7;

type Kind = "int" | "bool" | "string" | "bool[]" | "int[]";

/** Per-card fields: upstream's, then ours (link_gen_max, ecc_enabled, xid, thermal_throttle, power_brake). */
const CARD_FIELDS: Record<string, Kind> = {
  device_name: "string",
  arch: "int",
  pci: "string",
  uuid: "string",
  link_gen: "int",
  link_width_current: "int",
  link_width_max: "int",
  nvlink_active: "bool[]",
  remapping_failure: "bool",
  remapping_pending: "bool",
  sram_ue: "int",
  dram_ue: "int",
  dram_ce: "int",
  retired_page_sbe: "int",
  retired_page_dbe: "int",
  retired_page_pending: "bool",
  uncorrectable_agg_l1: "int",
  uncorrectable_agg_l2: "int",
  uncorrectable_agg_reg: "int",
  link_gen_max: "int",
  ecc_enabled: "bool",
  xid: "int[]",
  thermal_throttle: "bool",
  power_brake: "bool",
};

type Card = Partial<Record<string, number | boolean | string | boolean[] | number[]>>;

export interface MockNode {
  cardCount: number;
  nvmlInitError: number;
  cards: Map<number, Card>;
}

function checkKind(path: string, value: unknown, kind: Kind): void {
  const ok =
    kind === "int"
      ? Number.isInteger(value) && (value as number) >= 0
      : kind === "bool"
        ? typeof value === "boolean"
        : kind === "string"
          ? typeof value === "string"
          : kind === "bool[]"
            ? Array.isArray(value) && value.every((v) => typeof v === "boolean")
            : Array.isArray(value) && value.every((v) => Number.isInteger(v) && v >= 0);
  if (!ok)
    throw new Error(`${path}: ${JSON.stringify(value)} is not ${kind === "int" ? "an integer >= 0" : `a ${kind}`}`);
}

/** Reads and validates a mock file's text; errors name the field and the rule. */
export function parseMockConfig(text: string): MockNode {
  const doc = parseToml(text) as Record<string, unknown>;
  const gpus = doc.gpus;
  if (typeof gpus !== "object" || gpus === null || Array.isArray(gpus)) throw new Error("[gpus]: table is required");
  const table = gpus as Record<string, unknown>;
  if (table.card_count === undefined) throw new Error("gpus.card_count: required (the number of cards to mock)");
  checkKind("gpus.card_count", table.card_count, "int");
  const initError = table.nvml_init_error ?? 0;
  checkKind("gpus.nvml_init_error", initError, "int");
  const node: MockNode = {
    cardCount: table.card_count as number,
    nvmlInitError: initError as number,
    cards: new Map(),
  };
  for (const [key, value] of Object.entries(table)) {
    if (key === "card_count" || key === "nvml_init_error") continue;
    if (!/^\d+$/.test(key) || typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error(
        `gpus.${key}: unknown field (node fields are card_count and nvml_init_error; cards are [gpus.N])`,
      );
    }
    const index = Number(key);
    if (index >= node.cardCount) throw new Error(`gpus.${key}: card index must be below card_count ${node.cardCount}`);
    for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
      const kind = CARD_FIELDS[field];
      if (!kind) throw new Error(`gpus.${key}.${field}: unknown field (known: ${Object.keys(CARD_FIELDS).join(", ")})`);
      checkKind(`gpus.${key}.${field}`, v, kind);
    }
    node.cards.set(index, value as Card);
  }
  return node;
}

function cardProbe(index: number, card: Card, nowMs: number): GpuProbe {
  const num = (k: string, d: number) => (card[k] as number | undefined) ?? d;
  const flag = (k: string, d: boolean) => (card[k] as boolean | undefined) ?? d;
  const arch = num("arch", 9);
  const pci = (card.pci as string | undefined) ?? `${(0x18 + index * 0x10).toString(16).padStart(2, "0")}:00`;
  const gpu = unknownGpu(
    index,
    (card.uuid as string | undefined) ?? `GPU-00000000-0000-4000-8000-${index.toString(16).padStart(12, "0")}`,
    (card.device_name as string | undefined) ?? "NVIDIA H100 80GB HBM3",
  );
  gpu.busId = `00000000:${pci}.0`;
  gpu.rowRemapping = arch >= AMPERE;
  const linkGen = num("link_gen", 5);
  gpu.pcie = {
    genCurrent: linkGen,
    genMax: num("link_gen_max", linkGen),
    widthCurrent: num("link_width_current", 16),
    widthMax: num("link_width_max", 16),
  };
  const ue = num("sram_ue", 0) + num("dram_ue", 0);
  const eccOn = flag("ecc_enabled", true);
  const agg = num("uncorrectable_agg_l1", 0) + num("uncorrectable_agg_l2", 0) + num("uncorrectable_agg_reg", 0);
  gpu.ecc = eccOn
    ? {
        enabled: true,
        volatileCorrected: num("dram_ce", 0),
        volatileUncorrected: ue,
        aggregateCorrected: num("dram_ce", 0),
        aggregateUncorrected: agg + ue,
      }
    : { ...gpu.ecc, enabled: false };
  const retiredGiven = ["retired_page_sbe", "retired_page_dbe", "retired_page_pending"].some((k) => k in card);
  if (arch < AMPERE || retiredGiven) {
    gpu.retiredPages = {
      sbe: num("retired_page_sbe", 0),
      dbe: num("retired_page_dbe", 0),
      pending: flag("retired_page_pending", false),
    };
  }
  if (arch >= AMPERE) {
    gpu.remappedRows = {
      correctable: 0,
      uncorrectable: 0,
      pending: flag("remapping_pending", false),
      failure: flag("remapping_failure", false),
    };
  }
  gpu.nvlinks = [...((card.nvlink_active as boolean[] | undefined) ?? [])];
  gpu.throttle = { thermal: flag("thermal_throttle", false), powerBrake: flag("power_brake", false) };
  gpu.xids = ((card.xid as number[] | undefined) ?? []).map((code) => ({ code, atMs: nowMs, text: `Xid ${code}` }));
  return gpu;
}

export function mockProbe(node: MockNode, nowMs = Date.now()): NodeProbe {
  if (node.nvmlInitError !== 0) {
    const name = NVML_RETURN[node.nvmlInitError] ?? "unknown nvmlReturn_t";
    return {
      driver: { ok: false, message: `nvmlInit failed: ${name} (${node.nvmlInitError})` },
      listed: null,
      gpus: [],
    };
  }
  const gpus: GpuProbe[] = [];
  for (let i = 0; i < node.cardCount; i++) gpus.push(cardProbe(i, node.cards.get(i) ?? {}, nowMs));
  return { driver: { ok: true, message: "" }, listed: node.cardCount, gpus };
}

export class MockBackend implements ProbeBackend {
  readonly name = "mock";
  constructor(private readonly file: string) {}

  async probe(): Promise<NodeProbe> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      throw new Error(`mock file ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      return mockProbe(parseMockConfig(text));
    } catch (err) {
      throw new Error(`mock file ${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }
}
