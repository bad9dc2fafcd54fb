// Command-line and environment wiring for `aibrix-ts router`: builds flow control only when something asks for
// it (Redis, auth, a flow-control file or an admin port), so the plain router keeps its zero-cost `passAll` path.
import type { Logger } from "pino";
import { applyUserInput } from "./users/user.js";
import { loadFlowControlConfig } from "./config-file.js";
import { createFlowControl, type FlowControlService, type FlowControlConfig } from "./create.js";

export interface FlowControlFlags {
  /** `--redis-url`, else `REDIS_URL`. */
  redisUrl?: string;
  /** `--auth off|keys`. */
  auth?: string;
  /** `--flow-control-config <file.yaml>`. */
  flowControlConfig?: string;
  /** `--admin-port`: users API, flow-control metrics, health (default 8890 when flow control is on; 0 = any free port). */
  adminPort?: string;
  adminHost?: string;
  /** `--redis-fail-closed`: refuse (503) instead of serving with local limits while Redis is unreachable. */
  redisFailClosed?: boolean;
}

export interface StartedFlowControl {
  flowControl: FlowControlService;
  adminUrl: string;
}

export async function flowControlFromFlags(
  flags: FlowControlFlags,
  env: NodeJS.ProcessEnv = process.env,
  logger?: Logger,
): Promise<StartedFlowControl | undefined> {
  const redisUrl = flags.redisUrl ?? env.REDIS_URL;
  const wanted = redisUrl || flags.auth || flags.flowControlConfig || flags.adminPort !== undefined;
  if (!wanted) return undefined;
  if (flags.auth !== undefined && flags.auth !== "off" && flags.auth !== "keys") {
    throw new Error(
      `--auth ${flags.auth}: must be "off" (the user header names the tenant) or "keys" (Bearer API keys)`,
    );
  }
  const adminPort = Number(flags.adminPort ?? 8890);
  if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) {
    throw new Error(`--admin-port ${flags.adminPort}: must be an integer from 0 to 65535`);
  }
  const file = flags.flowControlConfig
    ? await loadFlowControlConfig(flags.flowControlConfig)
    : { config: {}, users: [] };
  const config: FlowControlConfig = {
    ...file.config,
    ...(redisUrl ? { redisUrl } : {}),
    ...(flags.auth ? { auth: flags.auth as FlowControlConfig["auth"] } : {}),
    ...(flags.redisFailClosed ? { onRedisFailure: "closed" as const } : {}),
    ...(env.AIBRIX_ADMIN_TOKEN ? { adminToken: env.AIBRIX_ADMIN_TOKEN } : {}),
    ...(logger ? { logger } : {}),
  };
  const flowControl = await createFlowControl(config);
  try {
    for (const u of file.users) {
      const name = String(u.name);
      if (!(await flowControl.users.get(name))) await flowControl.users.put(applyUserInput(undefined, u, false));
    }
    const host = flags.adminHost ?? "127.0.0.1";
    const admin = await flowControl.startAdminServer(adminPort, host);
    return { flowControl, adminUrl: `http://${host.includes(":") ? `[${host}]` : host}:${admin.port}` };
  } catch (err) {
    await flowControl.close();
    throw err;
  }
}
