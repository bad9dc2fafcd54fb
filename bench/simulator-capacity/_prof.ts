import { spawn } from "node:child_process";
import { startSimulator } from "../../simulator/index.js";
const sim = await startSimulator({
  model: "m",
  profile: "h100-8b",
  maxNumSeqs: 2000,
  numGpuBlocks: 600000,
  maxModelLen: 8192,
});
const c = spawn(
  process.execPath,
  ["--import", "tsx", "bench/simulator-capacity/client.ts", sim.url, "500", "10", "4000"],
  { stdio: ["ignore", "pipe", "inherit"] },
);
c.stdout.on("data", (d) => console.log(String(d).slice(0, 200)));
await new Promise((r) => c.once("exit", r));
await sim.close();
