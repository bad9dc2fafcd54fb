// The models' own tokenizers, loaded once at start from the directories configured per model, and what the router
// says about them: which models kv-prefix can name the engine's blocks for, and that every other model is routed
// by approximate prefix matching instead.
import type { Logger } from "pino";
import { ModelTokenizer } from "../../api/model-tokenizer.js";

export async function loadModelTokenizers(
  dirs: Record<string, string>,
  log: Logger,
): Promise<Map<string, ModelTokenizer>> {
  const out = new Map<string, ModelTokenizer>();
  for (const [model, dir] of Object.entries(dirs)) {
    // A broken tokenizer is a configuration error worth refusing to start over: routing would silently degrade.
    const tok = await ModelTokenizer.load(dir).catch((err: Error) => {
      throw new Error(`tokenizers.${model}: ${err.message}`, { cause: err });
    });
    out.set(model, tok);
    log.info(
      { model, dir, chatTemplate: tok.hasChatTemplate, plainCuts: tok.plainCuts },
      "model tokenizer loaded: kv-prefix uses the engine's block keys",
    );
  }
  log.info(
    { models: [...out.keys()] },
    out.size === 0
      ? "no model tokenizer configured: kv-prefix strategies route every model like prefix-cache (approximate); " +
          "pass --tokenizer MODEL=DIR to route on the engines' KV events"
      : "models without a tokenizer are routed like prefix-cache by kv-prefix strategies",
  );
  return out;
}
