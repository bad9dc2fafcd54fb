import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";

export interface SourceText {
  /** File path, or `-` for standard input. */
  name: string;
  text: string;
}

const MANIFEST_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads a file, every manifest file under a directory (recursively, sorted), or standard input (`-`). */
export async function readManifestSources(target: string): Promise<SourceText[]> {
  if (target === "-") return [{ name: "-", text: await readStdin() }];
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new Error(`${target}: no such file or directory`);
  if (info.isFile()) return [{ name: target, text: await readFile(target, "utf8") }];
  const out: SourceText[] = [];
  const entries = (await readdir(target, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const full = path.join(target, e.name);
    if (e.isDirectory()) out.push(...(await readManifestSources(full)));
    else if (MANIFEST_EXTENSIONS.has(path.extname(e.name)))
      out.push({ name: full, text: await readFile(full, "utf8") });
  }
  return out;
}
