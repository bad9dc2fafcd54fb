// How much of a request the router will read and analyse, sized to the model's context length: a prompt longer
// than the context is refused by the engine anyway, so the router never spends more on it than a full context.

/** Context assumed for an engine that has not reported `max_model_len` yet. */
export const DEFAULT_CONTEXT_TOKENS = 131_072;

/**
 * Bytes of request body a context of `tokens` can use: 16 bytes per token covers English (~4 characters a token),
 * JSON escapes of non-ASCII text (6 bytes a character) and whitespace runs, and 1 MiB more covers the rest of the
 * request (sampling settings, tool schemas, small images).
 */
export function contextBodyBytes(tokens: number): number {
  return 1024 * 1024 + 16 * tokens;
}

/**
 * Characters of prompt text worth tokenizing for a context of `tokens`: about 4 characters make a token in English
 * text, so past this most prompts no longer fit, and the prefix hashes that route a request come from its start.
 */
export function promptCharsFor(tokens: number): number {
  return 4 * tokens;
}

/**
 * `text` cut to at most `maxChars`, at whitespace when there is some near the cut, so the tokens of the kept part
 * are the first tokens of the whole (and its block hashes the first block hashes).
 */
export function boundedText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let cut = maxChars;
  const floor = Math.max(0, maxChars - 256);
  while (cut > floor && !/\s/.test(text[cut]!)) cut--;
  return text.slice(0, cut > floor ? cut : maxChars);
}
