#!/usr/bin/env node
// The one CLI: each command is a thin wrapper over an exported start…()/run…() function.
import { Command } from "commander";
import { packageVersion } from "../api/version.js";
import { registerValidate } from "./validate.js";
import { registerGenCrds } from "./gen-crds.js";
import { registerCluster } from "./cluster.js";
import { registerWebhooks } from "./webhooks.js";
import { registerRouter } from "./router.js";
import { registerLocal } from "./local.js";
import { registerSimulator } from "./simulator.js";
import { registerExtender } from "./extender.js";
import { registerControllers } from "./controllers.js";
import { registerDiagnose } from "./diagnose.js";
import { registerRuntime } from "./runtime.js";
import { registerOptimizer } from "./optimizer.js";
import { registerProfile } from "./profile.js";
import { registerWhatIf } from "./what-if.js";
import { registerKVCacheWatcher } from "./kvcache-watcher.js";

export function buildProgram(): Command {
  const program = new Command("aibrix-ts")
    .description("LLM-inference control plane for Kubernetes, wire-compatible with AIBrix custom resources")
    .version(packageVersion(), "-v, --version")
    .showHelpAfterError("(run with --help for usage)");
  registerValidate(program);
  registerGenCrds(program);
  registerCluster(program);
  registerWebhooks(program);
  registerRouter(program);
  registerLocal(program);
  registerSimulator(program);
  registerExtender(program);
  registerControllers(program);
  registerDiagnose(program);
  registerRuntime(program);
  registerOptimizer(program);
  registerProfile(program);
  registerWhatIf(program);
  registerKVCacheWatcher(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    console.error(`aibrix-ts: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
