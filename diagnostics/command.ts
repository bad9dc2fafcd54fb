// Running the probe tools, and the one identifier they share: the PCI bus id.
import { execFile } from "node:child_process";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}
export type RunCommand = (file: string, args: string[], signal?: AbortSignal) => Promise<CommandResult>;

export const runCommand: RunCommand = (file, args, signal) =>
  new Promise((resolve) => {
    execFile(file, args, { signal, maxBuffer: 8 * 1024 * 1024, timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 127) : 0;
      resolve({ code, stdout: String(stdout), stderr: err && !stderr ? err.message : String(stderr) });
    });
  });

/** `00000000:18:00.0` or `0000:18:00` → `0:18:00` (domain as a number, bus and device lower-case). */
export function normalizeBusId(raw: string): string | null {
  const m = /^([0-9a-f]+):([0-9a-f]{2}):([0-9a-f]{2})(?:\.[0-7])?$/i.exec(raw.trim());
  if (!m) return null;
  return `${Number.parseInt(m[1]!, 16)}:${m[2]!.toLowerCase()}:${m[3]!.toLowerCase()}`;
}
