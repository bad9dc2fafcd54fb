// The extender under test, in its own process (as beside kube-scheduler), fed the benchmark fleet directly.
// Prints one JSON line {port, controlPort}. With --process-metrics its /metrics also reports on the process (memory,
// heap, event-loop lag), as the `aibrix-ts extender` command's does. The control server hands the client the extender's own processing times
// and CPU time since the last reset, outside the measured requests.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { reportProcessMetrics } from "../../cli/process-metrics.js";
import { startExtender } from "../../extender/server.js";
import { buildFleet, fleetProfiles, fleetRecommendations } from "./fleet.js";

const nodes = Number(process.argv[2]);
const now = Number(process.argv[3]);
if (!Number.isInteger(nodes) || nodes <= 0 || !Number.isFinite(now)) {
  console.error("usage: server.ts <nodes> <now-ms> [--process-metrics]");
  process.exit(2);
}
const fleet = buildFleet(nodes, now);
let times: number[] = [];
let cpu = process.cpuUsage();
const ext = await startExtender({
  state: fleet.state,
  profiles: fleetProfiles(),
  recommendations: fleetRecommendations(),
  onDecision: (_verb, seconds) => times.push(seconds * 1000),
  logger: pino({ level: "silent" }),
});
if (process.argv.includes("--process-metrics")) reportProcessMetrics(ext.metrics.registry);
const control = http.createServer((req, res) => {
  if (req.url === "/reset") {
    times = [];
    cpu = process.cpuUsage();
    res.end("{}");
  } else if (req.url === "/stats") {
    const c = process.cpuUsage(cpu);
    res.end(JSON.stringify({ times, cpuMs: (c.user + c.system) / 1000 }));
  } else {
    res.statusCode = 404;
    res.end();
  }
});
await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));
console.log(JSON.stringify({ port: ext.port, controlPort: (control.address() as AddressInfo).port }));
process.once("SIGTERM", () => {
  control.close();
  void ext.close().then(() => process.exit(0));
});
