// One router replica for the rate-limit benchmark: the real router (static endpoints file) with admission control
// shared through Redis. Prints one JSON line {port, adminPort} on stdout once it listens; stops on SIGTERM, then
// writes what it admitted ([user, admitted at (ms), tokens from usage]) to $ADMISSIONS_FILE: the limiter's own view,
// free of any queueing in the load generator.
import { writeFileSync } from "node:fs";
import { pino } from "pino";
import type { AdmissionControl } from "../../router/admission-control/control.js";
import { createAdmission } from "../../router/admission-control/index.js";
import { FileDiscovery } from "../../router/discovery/static.js";
import { startRouter } from "../../router/server.js";

const redisUrl = process.env.REDIS_URL;
const endpoints = process.env.ENDPOINTS_FILE;
if (!redisUrl || !endpoints) throw new Error("REDIS_URL and ENDPOINTS_FILE are required");
const logger = pino({ level: "warn" }, pino.destination(2)); // stdout carries the handshake line
const admission = await createAdmission({
  redisUrl,
  logger,
  limits: { userWindowMs: Number(process.env.WINDOW_MS ?? 60_000) },
});
const admitted: Array<[string, number, number]> = [];
const recording: AdmissionControl = {
  async admit(req, signal) {
    const d = await admission.control.admit(req, signal);
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
  attachFleet: (view) => admission.control.attachFleet?.(view),
  close: () => admission.control.close(),
};
const router = await startRouter({
  port: 0,
  discovery: new FileDiscovery(endpoints, (err) => logger.error(err.message)),
  admission: recording,
  logger,
  accessLog: false,
  defaultStrategy: "least-request",
});
const admin = await admission.startAdminServer(0);
process.stdout.write(JSON.stringify({ port: router.port, adminPort: admin.port }) + "\n");
process.once("SIGTERM", () => {
  void admin
    .close()
    .then(() => router.close())
    .then(() => {
      if (process.env.ADMISSIONS_FILE) writeFileSync(process.env.ADMISSIONS_FILE, JSON.stringify(admitted));
      process.exit(0);
    });
});
