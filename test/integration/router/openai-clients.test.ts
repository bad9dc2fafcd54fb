// Compatibility: the official openai clients (npm and Python) talk to the router in front of simulated engines.
import { expect } from "chai";
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { startLocalFleet, type LocalFleet } from "../../../cli/local.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, "..", "..", "python", "router_openai_client.py");

describe("router with official OpenAI clients", function () {
  this.timeout(60000);
  let fleet: LocalFleet;
  let client: OpenAI;
  before(async () => {
    fleet = await startLocalFleet({ port: 0, speedup: 50, logLevel: "silent" });
    client = new OpenAI({ baseURL: fleet.router.url + "/v1", apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await fleet?.close();
  });

  it("npm openai: chat, completion, models", async () => {
    const chat = await client.chat.completions.create({
      model: "llama-3-8b",
      messages: [{ role: "user", content: "Say hello." }],
      max_tokens: 8,
    });
    expect(chat.choices[0]!.message.content).to.be.a("string").and.not.equal("");
    expect(chat.usage!.completion_tokens).to.equal(8);
    const comp = await client.completions.create({ model: "qwen-3-32b", prompt: "Once upon a time", max_tokens: 4 });
    expect(comp.choices[0]!.text).to.be.a("string");
    expect(comp.usage!.completion_tokens).to.equal(4);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id).sort()).to.deep.equal(["llama-3-8b", "qwen-3-32b", "sql-lora"]);
  });

  it("npm openai: streaming with usage, also through a LoRA adapter", async () => {
    for (const model of ["llama-3-8b", "sql-lora"]) {
      const stream = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: "Count to five." }],
        max_tokens: 5,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      let usage: number | undefined;
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        text += chunk.choices[0]?.delta?.content ?? "";
        if (chunk.usage) usage = chunk.usage.completion_tokens;
      }
      expect(chunks).to.be.at.least(6);
      expect(text.length).to.be.greaterThan(0);
      expect(usage).to.equal(5);
    }
  });

  it("npm openai: unknown model surfaces as NotFoundError with the served list", async () => {
    try {
      await client.chat.completions.create({ model: "gpt-9", messages: [{ role: "user", content: "x" }] });
      expect.fail("expected an error");
    } catch (err) {
      expect(err).to.be.instanceOf(OpenAI.NotFoundError);
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).message).to.match(
        /served models: llama-3-8b, qwen-3-32b, sql-lora/,
      );
    }
  });

  it("Python openai: chat, completion, streaming with usage, models", async () => {
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
      execFile("python3", [script, fleet.router.url, "llama-3-8b"], { timeout: 45000 }, (err, stdout, stderr) =>
        resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 }),
      );
    });
    if (code === 3 || /No module named|openai package is missing/.test(stderr)) {
      expect.fail(
        `Python openai client is not installed: run \`pip install -r test/python/requirements.txt\`\n${stderr}`,
      );
    }
    expect(code, stderr).to.equal(0);
    const out = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(out.chat_usage).to.equal(8);
    expect(out.completion_usage).to.equal(6);
    expect(out.stream_usage).to.equal(5);
    expect(out.stream_chunks).to.be.at.least(6);
    expect(out.models).to.deep.equal(["llama-3-8b", "qwen-3-32b", "sql-lora"]);
    expect(out.unknown_model_error).to.equal(404);
  });
});
