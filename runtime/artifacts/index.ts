// Fetching an artifact by URL into a directory, whatever its source.
import { stat } from "node:fs/promises";
import { downloadHub } from "./hub.js";
import type { S3Credentials } from "./s3.js";
import { parseArtifactUrl } from "./source.js";

export { parseArtifactUrl } from "./source.js";

export interface FetchSettings {
  /** Files fetched at once within one artifact (DOWNLOADER_NUM_THREADS). */
  concurrency: number;
  allowSuffixes: readonly string[];
  hubEndpoint: string;
  hubToken?: string | undefined;
}

/** Credentials as a ModelAdapter's Secret or a request carries them: env-style names or camelCase. */
export type CredentialMap = Record<string, string>;

function pick(maps: (CredentialMap | undefined)[], ...names: string[]): string | undefined {
  for (const m of maps) for (const n of names) if (m?.[n]) return m[n];
  return undefined;
}

export function s3CredentialsFrom(credentials?: CredentialMap, config?: CredentialMap): S3Credentials {
  const maps = [credentials, config];
  const c: S3Credentials = {};
  const set = (k: keyof S3Credentials, v: string | undefined) =>
    v !== undefined && ((c as Record<string, unknown>)[k] = v);
  set("accessKeyId", pick(maps, "AWS_ACCESS_KEY_ID", "access_key_id", "accessKeyId", "TOS_ACCESS_KEY"));
  set("secretAccessKey", pick(maps, "AWS_SECRET_ACCESS_KEY", "secret_access_key", "secretAccessKey", "TOS_SECRET_KEY"));
  set("sessionToken", pick(maps, "AWS_SESSION_TOKEN", "session_token", "sessionToken"));
  set("region", pick(maps, "AWS_REGION", "region", "TOS_REGION"));
  set("endpoint", pick(maps, "AWS_ENDPOINT_URL", "endpoint", "endpoint_url", "TOS_ENDPOINT"));
  return c;
}

export interface ArtifactRequest {
  url: string;
  dir: string;
  credentials?: CredentialMap | undefined;
  additionalConfig?: CredentialMap | undefined;
  signal?: AbortSignal | undefined;
}

/** Downloads `url` into `dir` (a local path is used where it is, and only checked). Returns the usable path. */
export async function fetchArtifact(
  req: ArtifactRequest,
  settings: FetchSettings,
): Promise<{ path: string; files: number; bytes: number }> {
  const src = parseArtifactUrl(req.url);
  const common = { concurrency: settings.concurrency, allowSuffixes: settings.allowSuffixes, signal: req.signal };
  if (src.kind === "local") {
    const st = await stat(src.path).catch(() => undefined);
    if (!st) throw new Error(`artifact ${req.url}: no such file or directory on this pod`);
    return { path: src.path, files: 0, bytes: 0 };
  }
  if (src.kind === "s3") {
    // The AWS SDK is large; a sidecar that never sees an s3:// URL never loads it.
    const { downloadS3, s3Client } = await import("./s3.js");
    const client = s3Client(src.scheme, s3CredentialsFrom(req.credentials, req.additionalConfig));
    try {
      return { path: req.dir, ...(await downloadS3(client, src.bucket, src.prefix, req.dir, common)) };
    } finally {
      client.destroy();
    }
  }
  const token = pick([req.credentials, req.additionalConfig], "HF_TOKEN", "token") ?? settings.hubToken;
  const endpoint = pick([req.additionalConfig], "HF_ENDPOINT", "endpoint") ?? settings.hubEndpoint;
  const got = await downloadHub(src.repo, src.revision, src.subpath, req.dir, { ...common, endpoint, token });
  return { path: req.dir, ...got };
}
