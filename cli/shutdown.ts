/**
 * Long-running commands stop cleanly on SIGINT/SIGTERM: close what they started (in order), then exit 0, or 1 when a
 * close fails. One place, so every command behaves the same under a process supervisor.
 */
export function closeOnSignal(...closers: (() => Promise<unknown>)[]): void {
  const stop = () => {
    void (async () => {
      let code = 0;
      for (const close of closers) {
        try {
          await close();
        } catch (err) {
          console.error(`aibrix-ts: shutdown: ${err instanceof Error ? err.message : String(err)}`);
          code = 1;
        }
      }
      process.exit(code);
    })();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
