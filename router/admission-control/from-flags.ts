// Command-line and environment wiring for `aibrix-ts router`: builds admission control only when something asks for
// it (Redis, auth, an admission file or an admin port), so the plain router keeps its zero-cost `admitAll` path.
import type { Logger } from "pino";
import { applyUserInput } from "./users/user.js";
import { loadAdmissionConfig } from "./config-file.js";
import { createAdmission, type Admission, type AdmissionConfig } from "./create.js";

export interface AdmissionFlags {
  /** `--redis-url`, else `REDIS_URL`. */
  redisUrl?: string;
  /** `--auth off|keys`. */
  auth?: string;
  /** `--admission-config <file.yaml>`. */
  admissionConfig?: string;
  /** `--admin-port`: users API, admission metrics, health (default 8890 when admission is on; 0 = any free port). */
  adminPort?: string;
  adminHost?: string;
  /** `--redis-fail-closed`: refuse (503) instead of serving with local limits while Redis is unreachable. */
  redisFailClosed?: boolean;
}

export interface StartedAdmission {
  admission: Admission;
  adminUrl: string;
}

export async function admissionFromFlags(
  flags: AdmissionFlags,
  env: NodeJS.ProcessEnv = process.env,
  logger?: Logger,
): Promise<StartedAdmission | undefined> {
  const redisUrl = flags.redisUrl ?? env.REDIS_URL;
  const wanted = redisUrl || flags.auth || flags.admissionConfig || flags.adminPort !== undefined;
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
  const file = flags.admissionConfig ? await loadAdmissionConfig(flags.admissionConfig) : { config: {}, users: [] };
  const config: AdmissionConfig = {
    ...file.config,
    ...(redisUrl ? { redisUrl } : {}),
    ...(flags.auth ? { auth: flags.auth as AdmissionConfig["auth"] } : {}),
    ...(flags.redisFailClosed ? { onRedisFailure: "closed" as const } : {}),
    ...(env.AIBRIX_ADMIN_TOKEN ? { adminToken: env.AIBRIX_ADMIN_TOKEN } : {}),
    ...(logger ? { logger } : {}),
  };
  const admission = await createAdmission(config);
  try {
    for (const u of file.users) {
      const name = String(u.name);
      if (!(await admission.users.get(name))) await admission.users.put(applyUserInput(undefined, u, false));
    }
    const host = flags.adminHost ?? "127.0.0.1";
    const admin = await admission.startAdminServer(adminPort, host);
    return { admission, adminUrl: `http://${host.includes(":") ? `[${host}]` : host}:${admin.port}` };
  } catch (err) {
    await admission.close();
    throw err;
  }
}
