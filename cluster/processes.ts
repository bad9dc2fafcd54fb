// Child processes of the loopback cluster: free ports, spawning with a log file, waiting for health, and stopping by
// PID. Processes are detached into their own process group so `cluster up` can return while they keep running, and
// so a stop signal reaches nothing else.
import { spawn } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import https from "node:https";
import http from "node:http";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** A TCP port free on 127.0.0.1 right now (the kernel picks it; the socket is closed before returning). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningProcess {
  name: string;
  pid: number;
  logFile: string;
  /** The executable, recorded so a stop never signals an unrelated process that reused the PID. */
  command: string;
}

export function spawnLogged(name: string, command: string, args: string[], logFile: string): RunningProcess {
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(command, args, { detached: true, stdio: ["ignore", fd, fd], env: { ...process.env } });
    if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
    child.unref();
    return { name, pid: child.pid, logFile, command };
  } finally {
    closeSync(fd);
  }
}

/** Whether `pid` is alive and still runs `command` (guards against PID reuse after a crash). */
export function isRunning(proc: Pick<RunningProcess, "pid" | "command">): boolean {
  try {
    process.kill(proc.pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, "utf8");
    if (!cmdline.startsWith(proc.command)) return false;
    // A zombie (exited, not yet reaped) still answers signal 0.
    return !/\)\s+Z\s/.test(readFileSync(`/proc/${proc.pid}/stat`, "utf8"));
  } catch {
    return true; // no /proc (not Linux): trust the signal probe
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(proc: RunningProcess, graceMs = 5_000): Promise<void> {
  if (!isRunning(proc)) return;
  try {
    process.kill(proc.pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(proc)) return;
    await sleep(50);
  }
  try {
    process.kill(proc.pid, "SIGKILL");
  } catch {
    return;
  }
  while (isRunning(proc)) await sleep(20);
}

/** Stops synchronously (SIGKILL): for `process.on("exit")`, where nothing async may run. */
export function killNow(proc: RunningProcess): void {
  if (!isRunning(proc)) return;
  try {
    process.kill(proc.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export interface TlsClient {
  ca?: string;
  cert?: string;
  key?: string;
  /** Component health ports serve a self-signed certificate of their own. */
  insecure?: boolean;
}

/** GET `url`, resolving with the status code and body; never throws for connection errors (status 0). */
export async function probe(
  url: string,
  tls?: TlsClient,
  timeoutMs = 2_000,
): Promise<{ status: number; body: string }> {
  return await new Promise((resolve) => {
    const u = new URL(url);
    const opts: https.RequestOptions = { method: "GET", timeout: timeoutMs };
    if (u.protocol === "https:") {
      Object.assign(opts, { ca: tls?.ca, cert: tls?.cert, key: tls?.key, rejectUnauthorized: !tls?.insecure });
    }
    const req = (u.protocol === "https:" ? https : http).request(u, opts, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", () => resolve({ status: 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Polls `url` until `ready(status, body)` holds. Fails fast, with the end of the log, when the process exits, and
 * after `timeoutMs` otherwise.
 */
export async function waitHealthy(
  proc: RunningProcess,
  url: string,
  opts: { tls?: TlsClient; timeoutMs?: number; ready?: (status: number, body: string) => boolean } = {},
): Promise<void> {
  const ready = opts.ready ?? ((status) => status === 200);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last = { status: 0, body: "" };
  while (Date.now() < deadline) {
    if (!isRunning(proc)) {
      throw new Error(
        `${proc.name} (pid ${proc.pid}) exited before becoming healthy; log ${proc.logFile}:\n${tail(proc.logFile)}`,
      );
    }
    last = await probe(url, opts.tls);
    if (ready(last.status, last.body)) return;
    await sleep(100);
  }
  throw new Error(
    `${proc.name} not healthy at ${url} after ${opts.timeoutMs ?? 60_000} ms (last: ${last.status} ${last.body.slice(0, 200)}); ` +
      `log ${proc.logFile}:\n${tail(proc.logFile)}`,
  );
}
