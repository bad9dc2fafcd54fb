// hf:// and huggingface:// artifacts over the hub's HTTP download protocol: list the revision's files
// (GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true, following Link: rel="next" pages), then fetch each
// from {endpoint}/{repo}/resolve/{revision}/{path} (redirects followed, Range for resume), checking LFS files' sha256.
import { Readable } from "node:stream";
import { fetchToFile, type ObjectToFetch } from "./file.js";
import { runLimited } from "./limit.js";
import type { DownloadOptions } from "./s3.js";
import { safeRelative } from "./source.js";

interface TreeEntry {
  type: string;
  path: string;
  size?: number;
  lfs?: { oid?: string; size?: number };
}

export interface HubOptions extends DownloadOptions {
  /** HF_ENDPOINT (default https://huggingface.co). */
  endpoint: string;
  token?: string | undefined;
}

function nextLink(header: string | null): string | undefined {
  const m = header ? /<([^>]+)>;\s*rel="next"/.exec(header) : null;
  return m ? m[1] : undefined;
}

export async function downloadHub(
  repo: string,
  revision: string,
  subpath: string,
  dir: string,
  opts: HubOptions,
): Promise<{ files: number; bytes: number }> {
  const endpoint = opts.endpoint.replace(/\/+$/, "");
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const rev = encodeURIComponent(revision);
  const entries: TreeEntry[] = [];
  let url: string | undefined =
    `${endpoint}/api/models/${repo}/tree/${rev}${subpath ? `/${subpath}` : ""}?recursive=true`;
  while (url) {
    const res: Response = await fetch(url, { headers, signal: opts.signal ?? null });
    if (!res.ok) throw new Error(`hub ${repo}@${revision}: listing files answered HTTP ${res.status}`);
    entries.push(...((await res.json()) as TreeEntry[]));
    url = nextLink(res.headers.get("link"));
  }
  const prefix = subpath ? `${subpath}/` : "";
  const objects: ObjectToFetch[] = [];
  for (const e of entries) {
    if (e.type !== "file") continue;
    const rel = e.path.startsWith(prefix) ? e.path.slice(prefix.length) : e.path;
    if (!safeRelative(rel)) continue;
    if (opts.allowSuffixes.length > 0 && !opts.allowSuffixes.some((s) => rel.endsWith(s))) continue;
    const fileUrl = `${endpoint}/${repo}/resolve/${rev}/${e.path.split("/").map(encodeURIComponent).join("/")}`;
    objects.push({
      rel,
      size: e.lfs?.size ?? e.size ?? 0,
      digest: e.lfs?.oid && /^[0-9a-f]{64}$/.test(e.lfs.oid) ? { algorithm: "sha256", hex: e.lfs.oid } : undefined,
      open: async (start) => {
        const res = await fetch(fileUrl, {
          headers: { ...headers, ...(start > 0 ? { range: `bytes=${start}-` } : {}) },
          redirect: "follow",
          signal: opts.signal ?? null,
        });
        if (!res.ok || !res.body) throw new Error(`hub ${repo}: ${e.path} answered HTTP ${res.status}`);
        return { body: Readable.fromWeb(res.body), ranged: res.status === 206 };
      },
    });
  }
  if (objects.length === 0) throw new Error(`hub ${repo}@${revision}${subpath ? `/${subpath}` : ""}: no files`);
  let bytes = 0;
  await runLimited(objects, opts.concurrency, async (o) => {
    bytes += await fetchToFile(dir, o);
  });
  return { files: objects.length, bytes };
}
