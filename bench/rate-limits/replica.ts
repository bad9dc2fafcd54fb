// One router replica for the rate-limit benchmark: the real router (static endpoints file) with flow control
// shared through Redis. Prints one JSON line {port, adminPort} on stdout once it listens; stops on SIGTERM, then
// writes what it admitted ([user, admitted at (ms), tokens from usage]) to $ENTRIES_FILE: the limiter's own view,
// free of any queueing in the load generator.
import { writeFileSync } from "node:fs";
import { pino } from "pino";
import type { FlowControl } from "../../router/flow-control/control.js";
import { createFlowControl } from "../../router/flow-control/index.js";
import { FileDiscovery } from "../../router/discovery/static.js";
import { startRouter } from "../../router/server.js";

const redisUrl = process.env.REDIS_URL;
const endpoints = process.env.ENDPOINTS_FILE;
if (!redisUrl || !endpoints) throw new Error("REDIS_URL and ENDPOINTS_FILE are required");
const logger = pino({ level: "warn" }, pino.destination(2)); // stdout carries the handshake line
const flowControl = await createFlowControl({
  redisUrl,
  logger,
  limits: { userWindowMs: Number(process.env.WINDOW_MS ?? 60_000) },
});
const admitted: Array<[string, number, number]> = [];
const recording: FlowControl = {
  async acquire(req, signal) {
    const d = await flowControl.control.acquire(req, signal);
    if (d.ok) {
      const entry: [string, number, number] = [d.ticket.user ?? "", Date.now(), 0];
      admitted.push(entry);
      const finish = d.ticket.finish.bind(d.ticket);
      d.ticket.finish = (o) => {
        entry[2] = o.usage ? o.usage.prompt_tokens + o.usage.completion_tokens : 0;
        finish(o);
      };
    }
    return d;
  },
  attachFleet: (view) => flowControl.control.attachFleet?.(view),
  close: () => flowControl.control.close(),
};
const router = await startRouter({
  port: 0,
  discovery: new FileDiscovery(endpoints, (err) => logger.error(err.message)),
  flowControl: recording,
  logger,
  accessLog: false,
  defaultStrategy: "least-request",
});
const admin = await flowControl.startAdminServer(0);
process.stdout.write(JSON.stringify({ port: router.port, adminPort: admin.port }) + "\n");
process.once("SIGTERM", () => {
  void admin
    .close()
    .then(() => router.close())
    .then(() => {
      if (process.env.ENTRIES_FILE) writeFileSync(process.env.ENTRIES_FILE, JSON.stringify(admitted));
      process.exit(0);
    });
});
