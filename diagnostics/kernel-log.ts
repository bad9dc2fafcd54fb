// XID errors: the NVIDIA driver logs them to the kernel ring buffer as
//   NVRM: Xid (PCI:0000:18:00): 79, pid=…, name=…, GPU has fallen off the bus.
// nvidia-smi does not report them, so they are read from `dmesg --time-format iso` and attributed by PCI bus id.
import { normalizeBusId, runCommand, type RunCommand } from "./command.js";
import type { XidEvent } from "./probe.js";

/**
 * XIDs that mean the GPU (or its memory) cannot be trusted until it is reset or replaced: uncorrectable ECC (48,
 * 95), row-remapping failure (64), NVLink error (74), fell off the bus (79), ECC page retirement or row remap
 * threshold (92), GSP or firmware failure (119, 120), unrecovered ECC (140). Others (13, 31, 43: application faults;
 * 63: a row remap recorded; 94: contained ECC error) are reported as warnings.
 */
export const FATAL_XIDS: ReadonlySet<number> = new Set([48, 62, 64, 74, 79, 92, 95, 119, 120, 140]);

const XID_LINE = /NVRM: Xid \((?:PCI:)?([0-9a-fA-F]+:[0-9a-fA-F]{2}:[0-9a-fA-F]{2})[^)]*\): (\d+)(.*)$/;
const ISO_PREFIX = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:[,.](\d+))?([+-]\d{2}:?\d{2}|Z)\s/;

/** XID events per normalized bus id, from kernel log lines (ISO timestamps when present). */
export function parseXidLines(text: string): Map<string, XidEvent[]> {
  const out = new Map<string, XidEvent[]>();
  for (const line of text.split("\n")) {
    const m = XID_LINE.exec(line);
    if (!m) continue;
    const bus = normalizeBusId(m[1]!);
    if (!bus) continue;
    const t = ISO_PREFIX.exec(line);
    const atMs = t ? Date.parse(`${t[1]}.${(t[2] ?? "0").slice(0, 3).padEnd(3, "0")}${t[3]}`) : NaN;
    const detail = m[3]!.replace(/^\s*,\s*/, "").trim();
    const event: XidEvent = { code: Number(m[2]), atMs, text: detail ? `Xid ${m[2]}: ${detail}` : `Xid ${m[2]}` };
    const list = out.get(bus) ?? [];
    list.push(event);
    out.set(bus, list);
  }
  return out;
}

export interface XidSource {
  /** XIDs within the window per bus id; null when the log cannot be read. */
  read(signal?: AbortSignal): Promise<Map<string, XidEvent[]> | null>;
}

export interface KernelLogOptions {
  /** Only events this recent count (an XID from last week says nothing of the GPU now). */
  windowMs: number;
  command?: [string, ...string[]];
  run?: RunCommand;
  now?: () => number;
}

export function kernelLogXids(opts: KernelLogOptions): XidSource {
  const [file, ...args] = opts.command ?? ["dmesg", "--time-format", "iso"];
  const run = opts.run ?? runCommand;
  const now = opts.now ?? Date.now;
  return {
    async read(signal) {
      const res = await run(file, args, signal);
      if (res.code !== 0) return null;
      const all = parseXidLines(res.stdout);
      const since = now() - opts.windowMs;
      for (const [bus, events] of all) {
        // A line without a time cannot be placed; it counts, as the safer reading.
        const recent = events.filter((e) => Number.isNaN(e.atMs) || e.atMs >= since);
        if (recent.length === 0) all.delete(bus);
        else all.set(bus, recent);
      }
      return all;
    },
  };
}
