// The CLI's commands, each module loaded only when its command runs.
import { Command } from "commander";
import { packageVersion } from "../api/version.js";

type Register = (program: Command) => void;

/**
 * Each command's module, loaded on demand: a process runs one deployable, and importing every command's would load
 * them all (the Kubernetes client, the HiGHS solver, node-forge, ...) into each one's heap.
 */
export const COMMANDS: Record<string, () => Promise<Register>> = {
  validate: async () => (await import("./validate.js")).registerValidate,
  "gen-crds": async () => (await import("./gen-crds.js")).registerGenCrds,
  cluster: async () => (await import("./cluster.js")).registerCluster,
  webhooks: async () => (await import("./webhooks.js")).registerWebhooks,
  router: async () => (await import("./router.js")).registerRouter,
  local: async () => (await import("./local.js")).registerLocal,
  simulator: async () => (await import("./simulator.js")).registerSimulator,
  extender: async () => (await import("./extender.js")).registerExtender,
  controllers: async () => (await import("./controllers.js")).registerControllers,
  diagnose: async () => (await import("./diagnose.js")).registerDiagnose,
  runtime: async () => (await import("./runtime.js")).registerRuntime,
  optimizer: async () => (await import("./optimizer.js")).registerOptimizer,
  profile: async () => (await import("./profile.js")).registerProfile,
  "what-if": async () => (await import("./what-if.js")).registerWhatIf,
  "kvcache-watcher": async () => (await import("./kvcache-watcher.js")).registerKVCacheWatcher,
};

/** The program with the named command only, or with all of them (help, a typo, no command) when `command` is not one. */
export async function buildProgram(command?: string): Promise<Command> {
  const program = new Command("aibrix-ts")
    .description("LLM-inference control plane for Kubernetes, wire-compatible with AIBrix custom resources")
    .version(packageVersion(), "-v, --version")
    .showHelpAfterError("(run with --help for usage)");
  const wanted =
    command !== undefined && Object.hasOwn(COMMANDS, command) ? [COMMANDS[command]!] : Object.values(COMMANDS);
  for (const register of await Promise.all(wanted.map((load) => load()))) register(program);
  return program;
}
