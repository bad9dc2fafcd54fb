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
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  });
});
