// session-affinity: a session stays on its endpoint (x-session-id), or a session key hashes to one.
import type { Scorer } from "../types.js";
import { fixedScorer } from "../plugin.js";

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(s, "utf8")) {
    h ^= BigInt(byte);
    h = BigInt.asUintN(64, h * FNV_PRIME);
  }
  return h;
}

export function encodeSessionId(endpointId: string): string {
  return Buffer.from(endpointId, "utf8").toString("base64");
}

export function decodeSessionId(v: string): string | undefined {
  const s = Buffer.from(v, "base64").toString("utf8");
  return /^[^\s:]+:\d{1,5}$/.test(s) ? s : undefined;
}

/**
 * `x-session-id` (base64 `ip:port`) whose endpoint is still a candidate → it; else `x-aibrix-session-key` →
 * rendezvous hash (max FNV-1a of key‖"#"‖ip:port, ties to the smaller address); else no opinion (random).
 */
export const sessionAffinity: Scorer = {
  name: "session-affinity",
  prescaled: true,
  score(req, cands, out) {
    out.fill(NaN, 0, cands.length);
    const sid = req.headers["x-session-id"];
    if (typeof sid === "string" && sid) {
      const target = decodeSessionId(sid);
      const idx = target ? cands.findIndex((c) => c.id === target) : -1;
      if (idx >= 0) {
        out.fill(0, 0, cands.length);
        out[idx] = 1;
        return;
      }
    }
    const key = req.headers["x-aibrix-session-key"];
    if (typeof key === "string" && key && key.length <= 256) {
      let best = -1;
      let bestH = -1n;
      for (let i = 0; i < cands.length; i++) {
        const h = fnv1a64(`${key}#${cands[i]!.id}`);
        if (h > bestH || (h === bestH && cands[i]!.id < cands[best]!.id)) {
          best = i;
          bestH = h;
        }
      }
      out.fill(0, 0, cands.length);
      out[best] = 1;
    }
  },
};

export const plugin = fixedScorer(
  sessionAffinity,
  "x-session-id keeps a session on its endpoint; x-aibrix-session-key hashes to one",
);
