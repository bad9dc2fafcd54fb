// The measuring client: one keep-alive HTTP/1.1 connection that reads every answer into the same buffer. A client
// that allocates a fresh buffer per socket read (hundreds of kB per cycle here) makes V8 collect its old space every
// few dozen cycles, and those pauses land in the very latencies being measured.
import net from "node:net";

const HEAD_END = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)\r\n/i;

export class RawHttpClient {
  private readonly socket: net.Socket;
  private readonly readBuffer = Buffer.allocUnsafe(256 * 1024);
  private readonly ready: Promise<void>;
  private head = Buffer.alloc(0);
  /** Bytes of the current answer's body still to come; -1 while its head is still arriving. */
  private remaining = -1;
  private status = 0;
  private pending:
    { resolve: (bytes: number) => void; reject: (err: Error) => void; bytes: number; kept?: Buffer[] } | undefined;
  private lastBody: Buffer[] = [];

  constructor(
    private readonly host: string,
    readonly port: number,
  ) {
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: this.readBuffer,
        callback: (n) => {
          this.onData(this.readBuffer.subarray(0, n));
          return true;
        },
      },
    });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
    this.socket.on("error", (err) => this.fail(err));
    this.socket.on("close", () => this.fail(new Error(`connection to ${host}:${port} closed`)));
  }

  /** POSTs `body` to `path` and resolves with a copy of the answer's body, as a client that decodes it needs. */
  async exchange(path: string, body: Buffer): Promise<Buffer> {
    await this.send(path, body, true);
    return Buffer.concat(this.lastBody);
  }

  /** POSTs `body` to `path`; resolves with the answer's body size once all of it has arrived. */
  post(path: string, body: Buffer): Promise<number> {
    return this.send(path, body, false);
  }

  private async send(path: string, body: Buffer, keep: boolean): Promise<number> {
    await this.ready;
    if (this.pending) throw new Error("one request at a time on this connection");
    const head =
      `POST ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, bytes: 0, ...(keep ? { kept: [] } : {}) };
      this.remaining = -1;
      this.head = Buffer.alloc(0);
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(body);
      this.socket.uncork();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const p = this.pending;
    if (!p) return;
    if (this.remaining < 0) {
      // The head usually arrives whole at the start of the first read; only a split one is copied.
      const data = this.head.length > 0 ? Buffer.concat([this.head, chunk]) : chunk;
      const end = data.indexOf(HEAD_END);
      if (end < 0) {
        this.head = Buffer.from(data);
        return;
      }
      this.head = Buffer.alloc(0);
      const text = data.toString("latin1", 0, end + 2);
      this.status = Number(text.slice(9, 12));
      const length = CONTENT_LENGTH.exec(text);
      if (!length) return this.fail(new Error(`answer without content-length: ${text.split("\r\n")[0]}`));
      this.remaining = Number(length[1]);
      chunk = data.subarray(end + HEAD_END.length);
    }
    p.bytes += chunk.length;
    // The read buffer is reused by the next read: a kept answer is copied out of it.
    p.kept?.push(Buffer.from(chunk));
    this.remaining -= chunk.length;
    if (this.remaining > 0) return;
    this.pending = undefined;
    this.lastBody = p.kept ?? [];
    if (this.remaining < 0 || this.status !== 200) {
      p.reject(new Error(`bad answer: status ${this.status}, ${-this.remaining} bytes past its content-length`));
    } else {
      p.resolve(p.bytes);
    }
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }
}
