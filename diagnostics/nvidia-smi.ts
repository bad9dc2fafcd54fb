// The nvidia-smi backend: a handful of CSV queries (`--format=csv,noheader,nounits`), `nvidia-smi nvlink --status`
// and XID lines from the kernel log, parsed into a NodeProbe. Parsing is separate from running so that recorded
// outputs are test fixtures.
import { normalizeBusId, runCommand, type RunCommand } from "./command.js";
import type { XidSource } from "./kernel-log.js";
import { unknownGpu, type GpuProbe, type NodeProbe, type ProbeBackend } from "./probe.js";

/** `--query-gpu` fields, in the order parseGpuQuery reads them. */
export const GPU_FIELDS = [
  "index",
  "uuid",
  "name",
  "pci.bus_id",
  "pcie.link.gen.current",
  "pcie.link.gen.max",
  "pcie.link.width.current",
  "pcie.link.width.max",
  "ecc.mode.current",
  "ecc.errors.corrected.volatile.total",
  "ecc.errors.uncorrected.volatile.total",
  "ecc.errors.corrected.aggregate.total",
  "ecc.errors.uncorrected.aggregate.total",
  "retired_pages.single_bit_ecc.count",
  "retired_pages.double_bit.count",
  "retired_pages.pending",
  "clocks_throttle_reasons.hw_thermal_slowdown",
  "clocks_throttle_reasons.sw_thermal_slowdown",
  "clocks_throttle_reasons.hw_power_brake_slowdown",
] as const;

export const REMAPPED_ROW_FIELDS = [
  "gpu_bus_id",
  "remapped_rows.correctable",
  "remapped_rows.uncorrectable",
  "remapped_rows.pending",
  "remapped_rows.failure",
] as const;

const DRIVER_UNREACHABLE = /couldn't communicate with the NVIDIA driver|NVIDIA-SMI has failed/i;

/** `[N/A]`, `[Not Supported]`, `N/A`, `[Unknown Error]`, empty: nvidia-smi's ways of saying it does not know. */
export function isUnknownValue(raw: string): boolean {
  const v = raw.trim();
  return v === "" || v === "N/A" || /^\[.*\]$/.test(v);
}

export function readCount(raw: string | undefined): number | null {
  if (raw === undefined || isUnknownValue(raw)) return null;
  const n = Number(raw.trim());
  return Number.isInteger(n) && n >= 0 ? n : null;
}

/** Enabled/Disabled, Yes/No, Active/Not Active, 1/0, true/false. */
export function readFlag(raw: string | undefined): boolean | null {
  if (raw === undefined || isUnknownValue(raw)) return null;
  const v = raw.trim().toLowerCase();
  if (v === "enabled" || v === "yes" || v === "active" || v === "1" || v === "true") return true;
  if (v === "disabled" || v === "no" || v === "not active" || v === "0" || v === "false") return false;
  return null;
}

function csvRows(text: string): string[][] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l) => l.split(",").map((c) => c.trim()));
}

/** `nvidia-smi -L`: `GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-…)`, one line per card (MIG lines are indented). */
export function parseListing(text: string): { index: number; name: string; uuid: string }[] {
  const out: { index: number; name: string; uuid: string }[] = [];
  for (const line of text.split("\n")) {
    const m = /^GPU (\d+): (.*) \(UUID: ([^)]+)\)\s*$/.exec(line);
    if (m) out.push({ index: Number(m[1]), name: m[2]!, uuid: m[3]! });
  }
  return out;
}

/** `--query-gpu=GPU_FIELDS --format=csv,noheader,nounits`. Rows with the wrong column count are an error. */
export function parseGpuQuery(text: string): GpuProbe[] {
  const gpus: GpuProbe[] = [];
  for (const row of csvRows(text)) {
    // The name may contain commas; every other column does not.
    if (row.length < GPU_FIELDS.length) {
      throw new Error(`nvidia-smi --query-gpu row has ${row.length} columns, expected ${GPU_FIELDS.length}`);
    }
    const extra = row.length - GPU_FIELDS.length;
    const cols = [...row.slice(0, 2), row.slice(2, 3 + extra).join(", "), ...row.slice(3 + extra)];
    const col = (f: (typeof GPU_FIELDS)[number]) => cols[GPU_FIELDS.indexOf(f)];
    const index = readCount(col("index"));
    if (index === null) throw new Error(`nvidia-smi --query-gpu row without an index: ${row.join(",")}`);
    const gpu = unknownGpu(index, col("uuid") ?? "", col("name") ?? "");
    const bus = col("pci.bus_id");
    gpu.busId = bus && !isUnknownValue(bus) ? bus : null;
    gpu.pcie = {
      genCurrent: readCount(col("pcie.link.gen.current")),
      genMax: readCount(col("pcie.link.gen.max")),
      widthCurrent: readCount(col("pcie.link.width.current")),
      widthMax: readCount(col("pcie.link.width.max")),
    };
    gpu.ecc = {
      enabled: readFlag(col("ecc.mode.current")),
      volatileCorrected: readCount(col("ecc.errors.corrected.volatile.total")),
      volatileUncorrected: readCount(col("ecc.errors.uncorrected.volatile.total")),
      aggregateCorrected: readCount(col("ecc.errors.corrected.aggregate.total")),
      aggregateUncorrected: readCount(col("ecc.errors.uncorrected.aggregate.total")),
    };
    gpu.retiredPages = {
      sbe: readCount(col("retired_pages.single_bit_ecc.count")),
      dbe: readCount(col("retired_pages.double_bit.count")),
      pending: readFlag(col("retired_pages.pending")),
    };
    const hwThermal = readFlag(col("clocks_throttle_reasons.hw_thermal_slowdown"));
    const swThermal = readFlag(col("clocks_throttle_reasons.sw_thermal_slowdown"));
    gpu.throttle = {
      thermal:
        hwThermal === true || swThermal === true ? true : hwThermal === null || swThermal === null ? null : false,
      powerBrake: readFlag(col("clocks_throttle_reasons.hw_power_brake_slowdown")),
    };
    gpus.push(gpu);
  }
  return gpus;
}

export interface RemappedRows {
  correctable: number | null;
  uncorrectable: number | null;
  pending: boolean | null;
  failure: boolean | null;
}

/** `--query-remapped-rows=REMAPPED_ROW_FIELDS --format=csv,noheader,nounits`, keyed by normalized bus id. */
export function parseRemappedRows(text: string): Map<string, RemappedRows> {
  const out = new Map<string, RemappedRows>();
  for (const row of csvRows(text)) {
    const bus = row[0] ? normalizeBusId(row[0]) : null;
    if (!bus || row.length < REMAPPED_ROW_FIELDS.length) continue;
    out.set(bus, {
      correctable: readCount(row[1]),
      uncorrectable: readCount(row[2]),
      pending: readFlag(row[3]),
      failure: readFlag(row[4]),
    });
  }
  return out;
}

/** `nvidia-smi nvlink --status`: per GPU UUID, each link active (a speed) or not (`<inactive>`). */
export function parseNvlinkStatus(text: string): Map<string, boolean[]> {
  const out = new Map<string, boolean[]>();
  let current: boolean[] | undefined;
  for (const line of text.split("\n")) {
    const gpu = /^GPU \d+: .* \(UUID: ([^)]+)\)/.exec(line);
    if (gpu) {
      current = [];
      out.set(gpu[1]!, current);
      continue;
    }
    const link = /^\s+Link (\d+): (.*)$/.exec(line);
    if (link && current) current[Number(link[1])] = !/inactive|N\/A|not supported/i.test(link[2]!);
  }
  for (const links of out.values()) for (let i = 0; i < links.length; i++) links[i] ??= false;
  return out;
}

/**
 * A GPU that `nvlink --status` lists with no links has none; one it omits while listing others is unknown. A
 * successful run that lists no GPU at all is how a node without NVLink answers (recorded on a single H200, driver 580).
 */
function nvlinksOf(uuid: string, links: Map<string, boolean[]> | undefined): boolean[] | null {
  if (!links) return null;
  if (links.size === 0) return [];
  return links.get(uuid) ?? null;
}

export interface NvidiaSmiOptions {
  /** The nvidia-smi executable (default `nvidia-smi` on PATH). */
  binary?: string;
  run?: RunCommand;
  xids?: XidSource;
}

export class NvidiaSmiBackend implements ProbeBackend {
  readonly name = "nvidia-smi";
  private readonly bin: string;
  private readonly run: RunCommand;
  private readonly xids: XidSource | undefined;

  constructor(opts: NvidiaSmiOptions = {}) {
    this.bin = opts.binary ?? "nvidia-smi";
    this.run = opts.run ?? runCommand;
    this.xids = opts.xids;
  }

  async probe(signal?: AbortSignal): Promise<NodeProbe> {
    const list = await this.run(this.bin, ["-L"], signal);
    const said = `${list.stdout}\n${list.stderr}`.trim();
    if (list.code !== 0 || DRIVER_UNREACHABLE.test(said)) {
      const missing = /ENOENT/.test(said);
      const message = missing
        ? `${this.bin} not found: install the NVIDIA driver utilities, or point --nvidia-smi at it (--mock <file> to test without a GPU)`
        : said.split("\n")[0] || `${this.bin} -L exited with code ${list.code}`;
      return { driver: { ok: false, message }, listed: null, gpus: [] };
    }
    const listed = parseListing(list.stdout);
    const [query, remapped, nvlink, xids] = await Promise.all([
      this.run(this.bin, [`--query-gpu=${GPU_FIELDS.join(",")}`, "--format=csv,noheader,nounits"], signal),
      this.run(
        this.bin,
        [`--query-remapped-rows=${REMAPPED_ROW_FIELDS.join(",")}`, "--format=csv,noheader,nounits"],
        signal,
      ),
      this.run(this.bin, ["nvlink", "--status"], signal),
      this.xids ? this.xids.read(signal) : Promise.resolve(null),
    ]);
    let gpus: GpuProbe[];
    if (query.code === 0) {
      gpus = parseGpuQuery(query.stdout);
    } else {
      // The listing still names the cards; everything about them is unknown.
      gpus = listed.map((g) => unknownGpu(g.index, g.uuid, g.name));
    }
    const rows = remapped.code === 0 ? parseRemappedRows(remapped.stdout) : new Map<string, RemappedRows>();
    const links = nvlink.code === 0 ? parseNvlinkStatus(nvlink.stdout) : undefined;
    for (const gpu of gpus) {
      const bus = gpu.busId ? normalizeBusId(gpu.busId) : null;
      const r = bus ? rows.get(bus) : undefined;
      if (r) {
        gpu.remappedRows = r;
        gpu.rowRemapping = r.pending !== null || r.failure !== null;
      } else if (remapped.code === 0 || gpu.retiredPages.pending !== null) {
        gpu.rowRemapping = false;
      }
      gpu.nvlinks = nvlinksOf(gpu.uuid, links);
      gpu.xids = xids === null ? null : bus ? (xids.get(bus) ?? []) : null;
    }
    return { driver: { ok: true, message: "" }, listed: listed.length, gpus };
  }
}
