// Streams with chunks waiting to be written. The engine loop hands them over after each slice (EngineLoop.afterSlice);
// the writer drains them in batches of a few milliseconds, yielding to the event loop in between, so thousands of
// streams never block it for long. A stream waiting its turn, or whose client reads slowly (its socket wants a
// drain), accumulates tokens and gets them in one write: memory and syscalls stay bounded under overload.
import type { ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { writeChunk } from "./http-io.js";

export interface PendingStream {
  res: ServerResponse;
  text: string;
  end: boolean;
  /** In the writer's list. */
  dirty: boolean;
  /** Waiting for the socket to drain (the client reads slower than tokens come). */
  blocked: boolean;
  /** Every chunk of this stream is ASCII, so its UTF-8 length is its string length. */
  ascii: boolean;
}

const WRITE_SLICE_MS = 3;

export class StreamWriter {
  private dirty: PendingStream[] = [];
  private writing = false;

  /** Adds text to a stream (and ends it after that text when `end`); written on the next `start`. */
  queue(p: PendingStream, text: string, end = false): void {
    p.text += text;
    if (end) p.end = true;
    this.mark(p);
  }

  /** Starts draining the waiting streams unless a drain is already under way. */
  start(): void {
    if (!this.writing && this.dirty.length > 0) {
      this.writing = true;
      this.drain();
    }
  }

  private mark(p: PendingStream): void {
    if (!p.dirty && !p.blocked) {
      p.dirty = true;
      this.dirty.push(p);
    }
  }

  private drain(): void {
    const until = performance.now() + WRITE_SLICE_MS;
    const dirty = this.dirty;
    let i = 0;
    for (; i < dirty.length; i++) {
      if ((i & 31) === 31 && performance.now() > until) break;
      const p = dirty[i] as PendingStream;
      p.dirty = false;
      if (p.res.destroyed) continue;
      const socket = p.res.socket;
      if (!p.end && socket?.writableNeedDrain) {
        p.blocked = true;
        socket.once("drain", () => {
          p.blocked = false;
          if (p.text.length > 0 || p.end) this.mark(p);
          this.start();
        });
        continue;
      }
      const text = p.text;
      p.text = "";
      writeChunk(p.res, text, p.ascii);
      if (p.end) p.res.end();
    }
    this.dirty = i >= this.dirty.length ? [] : this.dirty.slice(i);
    if (this.dirty.length > 0) setImmediate(() => this.drain());
    else this.writing = false;
  }
}
