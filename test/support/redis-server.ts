// Starts a real `redis-server` (Debian package) on a free loopback port for tests and benchmarks; stops it by PID.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";

export interface RunningRedis {
  port: number;
  url: string;
  pid: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop): a Redis that went away and came back, empty. */
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on `port` (default: a free one). */
export async function startRedis(port?: number): Promise<RunningRedis> {
  port ??= await freePort();
  let child = await launch(port);
  const handle: RunningRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      await kill(child);
    },
    async restart() {
      await kill(child);
      child = await launch(port);
      handle.pid = child.pid!;
    },
  };
  return handle;
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on port ${port}: ${out}`)), 10_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run redis-server (install the redis-server package): ${err.message}`));
    });
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}
