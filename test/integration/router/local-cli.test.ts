// `aibrix-ts local` (what `npm start` runs): prints the endpoint and a curl line that works when pasted.
import { expect } from "chai";
import { exec, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

describe("aibrix-ts local", function () {
  this.timeout(60000);

  it("starts the router and simulated fleet and prints a curl line that answers", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", "local", "--port", "0", "--speedup", "20"],
      {
        cwd: repo,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      let out = "";
      const curl = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no curl line within 40 s:\n${out}`)), 40000);
        child.stderr.on("data", (b: Buffer) => (out += b.toString()));
        child.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          const line = out
            .split("\n")
            .find((l) => l.trim().startsWith("curl -s") && l.includes("/v1/chat/completions"));
          if (line) {
            clearTimeout(timer);
            resolve(line.trim());
          }
        });
        child.once("exit", (code) => reject(new Error(`exited ${code}:\n${out}`)));
      });
      expect(out).to.match(/aibrix-ts router: http:\/\/127\.0\.0\.1:\d+/);
      expect(out).to.match(/models: llama-3-8b, qwen-3-32b, sql-lora/);
      expect(out).to.match(/gpu=H100[\s\S]*gpu=A100/);
      const { stdout } = await promisify(exec)(curl);
      const body = JSON.parse(stdout) as {
        choices: { message: { content: string } }[];
        usage: { completion_tokens: number };
      };
      expect(body.choices[0]!.message.content).to.be.a("string").and.not.equal("");
      expect(body.usage.completion_tokens).to.equal(32);

      // The default strategy routes on the engines' KV events: a prompt of several blocks shows up in the feed.
      const url = out.match(/aibrix-ts router: (http:\/\/\S+)/)![1]!;
      expect(out).to.match(/strategy kv-prefix-load/);
      // Sent again now and then: events an engine publishes before the router's subscription takes effect are lost.
      const prompt = () =>
        fetch(`${url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "llama-3-8b", prompt: "a shared context block ".repeat(40), max_tokens: 1 }),
        }).then((r) => r.text());
      let blocks = 0;
      for (let i = 0; i < 50 && blocks === 0; i++) {
        if (i % 10 === 0) await prompt();
        const metrics = await (await fetch(`${url}/metrics`)).text();
        for (const [, n] of metrics.matchAll(/^aibrix_router_kv_index_blocks\{[^}]*\} (\S+)$/gm)) blocks += Number(n);
        if (blocks === 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(blocks).to.be.greaterThan(0);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  });
});
