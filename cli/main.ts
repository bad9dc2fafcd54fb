#!/usr/bin/env node
// The one CLI: each command is a thin wrapper over an exported start…()/run…() function.
import { buildProgram } from "./program.js";

// The command is the first argument that is not an option (the program's own options come before it).
buildProgram(process.argv.slice(2).find((a) => !a.startsWith("-")))
  .then((program) => program.parseAsync(process.argv))
  .catch((err: unknown) => {
    console.error(`aibrix-ts: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
