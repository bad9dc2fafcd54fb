// The simulator under test, in a process of its own (started by main.ts with a larger V8 young generation, as a
// deployment serving thousands of streams would be): prints its URL, serves until SIGTERM.
import { startSimulator } from "../../simulator/index.js";

const streams = Number(process.argv[2] ?? "2000");
const maxTokens = Number(process.argv[3] ?? "4000");
const sim = await startSimulator({
  model: "m",
  calibration: "h100-8b",
  maxNumSeqs: Math.max(streams, 256),
  numGpuBlocks: Math.ceil((streams * (maxTokens + 64)) / 16) + 1024,
  maxModelLen: 8192,
});
process.stdout.write(`${sim.url}\n`);
process.once("SIGTERM", () => {
  void sim.close().then(() => process.exit(0));
});
