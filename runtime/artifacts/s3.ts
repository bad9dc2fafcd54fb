// s3://, gcs:// and tos:// artifacts through one S3 client (GCS and TOS speak the S3 API at their own endpoints):
// list the prefix, then fetch every object with bounded concurrency, resumable by byte range, MD5-checked where the
// ETag is one (single-part uploads).
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { fetchToFile, type ObjectToFetch } from "./file.js";
import { runLimited } from "./limit.js";
import { safeRelative } from "./source.js";

export interface S3Credentials {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region?: string;
  /** Endpoint URL; default by scheme: GCS's and TOS's S3-compatible endpoints, AWS for s3://. */
  endpoint?: string;
  forcePathStyle?: boolean;
}

const DEFAULT_ENDPOINT: Record<"s3" | "gcs" | "tos", ((region: string) => string) | undefined> = {
  s3: undefined,
  gcs: () => "https://storage.googleapis.com",
  tos: (region) => `https://tos-s3-${region}.volces.com`,
};

export function s3Client(scheme: "s3" | "gcs" | "tos", creds: S3Credentials): S3Client {
  const region = creds.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
  const endpoint = creds.endpoint ?? process.env.AWS_ENDPOINT_URL ?? DEFAULT_ENDPOINT[scheme]?.(region);
  return new S3Client({
    region,
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: creds.forcePathStyle ?? Boolean(creds.endpoint ?? process.env.AWS_ENDPOINT_URL),
    ...(creds.accessKeyId && creds.secretAccessKey
      ? {
          credentials: {
            accessKeyId: creds.accessKeyId,
            secretAccessKey: creds.secretAccessKey,
            ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}),
          },
        }
      : {}),
  });
}

export interface DownloadOptions {
  concurrency: number;
  /** Only files with these suffixes (DOWNLOADER_ALLOW_FILE_SUFFIX); empty = all. */
  allowSuffixes: readonly string[];
  signal?: AbortSignal | undefined;
}

export async function downloadS3(
  client: S3Client,
  bucket: string,
  prefix: string,
  dir: string,
  opts: DownloadOptions,
): Promise<{ files: number; bytes: number }> {
  const base = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  const objects: ObjectToFetch[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: base, ContinuationToken: token }),
      { abortSignal: opts.signal },
    );
    for (const o of page.Contents ?? []) {
      const key = o.Key ?? "";
      const rel = key.slice(base.length);
      if (!safeRelative(rel) || key.endsWith("/")) continue;
      if (opts.allowSuffixes.length > 0 && !opts.allowSuffixes.some((s) => rel.endsWith(s))) continue;
      const etag = (o.ETag ?? "").replace(/"/g, "");
      objects.push({
        rel,
        size: o.Size ?? 0,
        digest: /^[0-9a-f]{32}$/.test(etag) ? { algorithm: "md5", hex: etag } : undefined,
        open: async (start) => {
          const got = await client.send(
            new GetObjectCommand({ Bucket: bucket, Key: key, ...(start > 0 ? { Range: `bytes=${start}-` } : {}) }),
            { abortSignal: opts.signal },
          );
          return { body: got.Body as Readable, ranged: start > 0 && got.ContentRange !== undefined };
        },
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (objects.length === 0) throw new Error(`s3://${bucket}/${base}: no objects under this prefix`);
  let bytes = 0;
  await runLimited(objects, opts.concurrency, async (o) => {
    bytes += await fetchToFile(dir, o);
  });
  return { files: objects.length, bytes };
}
