// Real servers the runtime tests download from: moto in S3 server mode (installed by scripts/prereqs.sh), and a
// local HTTP server laid out as the hub's download API (tree listing with pagination, resolve with a redirect to a
// "CDN" path, byte ranges).
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../../cluster/processes.js";

export const MOTO_VERSION = "5.2.5";

export function motoServerBinary(): string {
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache");
  const bin = path.join(cache, "aibrix-ts", `moto-${MOTO_VERSION}`, "bin", "moto_server");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/prereqs.sh (it installs moto[server])`);
  return bin;
}

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const child: ChildProcess = spawn(motoServerBinary(), ["-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}): ${stderr.slice(-500)}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`moto_server did not start in 30 s: ${stderr.slice(-500)}`);
    await sleep(100);
  }
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

export interface HubFile {
  path: string;
  data: Buffer;
  /** Stored through LFS: the listing carries its sha256 (tamper = serve other bytes than the listed digest). */
  lfs?: boolean;
  tamper?: boolean;
  /** The file's bytes are sent only once this settles (to hold downloads in flight). */
  hold?: Promise<void>;
  /** The file is `data` this many times over, streamed as it is sent (a large file that is never in memory). */
  repeat?: number;
}

const fileSize = (f: HubFile) => f.data.length * (f.repeat ?? 1);

function sha256Of(f: HubFile): string {
  const h = createHash("sha256");
  for (let i = 0; i < (f.repeat ?? 1); i++) h.update(f.data);
  return h.digest("hex");
}

export interface FakeHub {
  endpoint: string;
  /** Bytes of file content served so far. */
  servedBytes(): number;
  requests: string[];
  close(): Promise<void>;
}

/** Serves `repos` (repo id → files at revision "main") the way the hub does; listing pages hold `pageSize` entries. */
export async function startHub(repos: Record<string, HubFile[]>, token?: string, pageSize = 2): Promise<FakeHub> {
  let served = 0;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end("Unauthorized");
      return;
    }
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      const files = repos[tree[1]!];
      if (!files || tree[2] !== "main") {
        res.writeHead(404).end("{}");
        return;
      }
      const cursor = Number(url.searchParams.get("cursor") ?? "0");
      const page = files.slice(cursor, cursor + pageSize).map((f) => ({
        type: "file",
        path: f.path,
        size: fileSize(f),
        oid: createHash("sha1").update(f.data).digest("hex"),
        ...(f.lfs ? { lfs: { oid: sha256Of(f), size: fileSize(f), pointerSize: 134 } } : {}),
      }));
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (cursor + pageSize < files.length) {
        headers.link = `<http://${req.headers.host}${url.pathname}?recursive=true&cursor=${cursor + pageSize}>; rel="next"`;
      }
      res.writeHead(200, headers).end(JSON.stringify(page));
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(url.pathname);
    if (resolve) {
      res.writeHead(302, { location: `/cdn/${resolve[1]}/${resolve[2]}` }).end();
      return;
    }
    const cdn = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    const file = cdn ? repos[cdn[1]!]?.find((f) => f.path === decodeURIComponent(cdn[2]!)) : undefined;
    if (!file) {
      res.writeHead(404).end("not found");
      return;
    }
    if (file.hold) {
      void file.hold.then(() => serveFile(req, res, file));
      return;
    }
    serveFile(req, res, file);
  });
  function serveFile(req: http.IncomingMessage, res: http.ServerResponse, file: HubFile): void {
    if (file.repeat !== undefined) {
      res.writeHead(200, { "content-length": fileSize(file) });
      let left = file.repeat;
      const pump = () => {
        while (left > 0) {
          left--;
          served += file.data.length;
          if (!res.write(file.data)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
      return;
    }
    let data = file.tamper ? Buffer.from(file.data).fill(0x41, 0, 8) : file.data;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]);
      res.writeHead(206, {
        "content-range": `bytes ${start}-${data.length - 1}/${data.length}`,
        "content-length": data.length - start,
      });
      data = data.subarray(start);
    } else {
      res.writeHead(200, { "content-length": data.length });
    }
    served += data.length;
    res.end(data);
  }
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    servedBytes: () => served,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
