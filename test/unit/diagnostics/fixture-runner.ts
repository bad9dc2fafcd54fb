// Replays recorded tool outputs from test/fixtures/nvidia-smi/<case>/ in place of running nvidia-smi and dmesg.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { RunCommand } from "../../../diagnostics/command.js";

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../fixtures/nvidia-smi");

function fileFor(file: string, args: string[]): string | undefined {
  if (file === "dmesg") return "dmesg";
  const a = args.join(" ");
  if (a === "-L") return "list";
  if (a.startsWith("--query-gpu=")) return "query-gpu";
  if (a.startsWith("--query-remapped-rows=")) return "remapped-rows";
  if (a === "nvlink --status") return "nvlink-status";
  return undefined;
}

/** A RunCommand over a fixture case; records every call. A missing output file fails like an unknown command. */
export function fixtureRunner(name: string, calls: string[][] = []): RunCommand {
  const dir = path.join(FIXTURES, name);
  return async (file, args) => {
    calls.push([file, ...args]);
    const base = fileFor(file, args);
    const ext = ["txt", "csv"].map((e) => path.join(dir, `${base}.${e}`)).find((p) => existsSync(p));
    if (!base || !ext) return { code: 127, stdout: "", stderr: `${file}: no fixture for ${args.join(" ")}` };
    const exitFile = path.join(dir, `${base}.exit`);
    const code = existsSync(exitFile) ? Number(readFileSync(exitFile, "utf8").trim()) : 0;
    const out = readFileSync(ext, "utf8");
    return code === 0 ? { code, stdout: out, stderr: "" } : { code, stdout: out, stderr: "" };
  };
}
