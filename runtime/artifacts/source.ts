// Where an artifact comes from: upstream's URL schemes, parsed once with errors that name the rule.
export type ArtifactSource =
  | { kind: "s3"; scheme: "s3" | "gcs" | "tos"; bucket: string; prefix: string }
  | { kind: "hub"; repo: string; revision: string; subpath: string }
  | { kind: "local"; path: string };

/**
 * `s3://bucket/prefix`, `gcs://bucket/prefix`, `tos://bucket/prefix`; `hf://org/name[@revision][/subpath]` (also
 * `huggingface://`); an absolute path or `file:///path`.
 */
export function parseArtifactUrl(url: string): ArtifactSource {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/.exec(url);
  if (!m) {
    if (url.startsWith("/")) return { kind: "local", path: url };
    throw new Error(
      `artifact_url ${JSON.stringify(url)}: use s3://, gcs://, tos://, hf://, huggingface:// or an absolute path`,
    );
  }
  const [, scheme, rest] = m as unknown as [string, string, string];
  if (scheme === "s3" || scheme === "gcs" || scheme === "tos") {
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new Error(
        `artifact_url ${JSON.stringify(url)}: bucket ${JSON.stringify(bucket)} is not a valid bucket name`,
      );
    }
    const prefix = slash < 0 ? "" : rest.slice(slash + 1);
    return { kind: "s3", scheme, bucket, prefix };
  }
  if (scheme === "hf" || scheme === "huggingface") {
    const parts = rest.split("/").filter((p) => p !== "");
    if (parts.length < 2) throw new Error(`artifact_url ${JSON.stringify(url)}: expected ${scheme}://<org>/<name>`);
    const [org, nameRev, ...sub] = parts as [string, string, ...string[]];
    const at = nameRev.indexOf("@");
    const name = at < 0 ? nameRev : nameRev.slice(0, at);
    const revision = at < 0 ? "main" : nameRev.slice(at + 1);
    if (sub.some((p) => p === "..")) throw new Error(`artifact_url ${JSON.stringify(url)}: ".." is not allowed`);
    return { kind: "hub", repo: `${org}/${name}`, revision: revision || "main", subpath: sub.join("/") };
  }
  if (scheme === "file") return { kind: "local", path: `/${rest.replace(/^\/+/, "")}` };
  throw new Error(`artifact_url ${JSON.stringify(url)}: unsupported scheme ${JSON.stringify(scheme)}`);
}

/** A relative object path is safe to join under a directory: no absolute paths, no `..`. */
export function safeRelative(rel: string): boolean {
  return rel !== "" && !rel.startsWith("/") && !rel.split("/").some((p) => p === ".." || p === ".");
}
