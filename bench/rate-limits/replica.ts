// One router replica for the rate-limit benchmark: the real router (static endpoints file) with admission control
// shared through Redis. Prints one JSON line {port, adminPort} on stdout once it listens; stops on SIGTERM.
import { pino } from "pino";
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
const router = await startRouter({
  port: 0,
  discovery: new FileDiscovery(endpoints, (err) => logger.error(err.message)),
  admission: admission.control,
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
    .then(() => process.exit(0));
});
