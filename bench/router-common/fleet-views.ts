// Views of an engine fleet for routers that should not see all of it.
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EngineFleet } from "./processes.js";

/**
 * The same engines with their KV-event publishers left out of the endpoint file: a router given it places requests
 * from what it sent alone, as a router without engine KV events does (our router subscribes to every publisher an
 * endpoint names, whatever its strategy).
 */
export async function withoutKvEvents(fleet: EngineFleet): Promise<EngineFleet> {
  const endpoints = fleet.endpoints.map(({ model, address, gpuType }) => ({
    model,
    address,
    ...(gpuType ? { gpuType } : {}),
  }));
  const endpointFile = path.join(tmpdir(), `bench-engines-no-kv-events-${process.pid}-${Date.now()}.yaml`);
  await writeFile(endpointFile, JSON.stringify(endpoints));
  return { proc: fleet.proc, endpoints, endpointFile };
}
