/** Polls `cond` every 10 ms until it holds; resolves with the time that took, or fails naming `what`. */
export async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}
