import { expect } from "chai";
import { decode } from "@msgpack/msgpack";
import { tokenize } from "../../../api/tokens.js";
import { decodeKvEventBatch } from "../../../engines/kv-events.js";
import { encodeBatch, seqBytes } from "../../../simulator/kv-events.js";
import { parseRequest, contextTooLong, ChunkWriter, usage } from "../../../simulator/openai.js";
import { FaultState } from "../../../simulator/faults.js";
import { ReplyText } from "../../../simulator/text.js";

describe("simulator wire formats", () => {
  it("encodes a KVEventBatch as vLLM 0.32 does: an array-like batch of tagged-map events", () => {
    const big = 0xfedcba9876543210n; // above 2^63: must travel as uint64
    const payload = encodeBatch(
      1.5,
      [
        {
          type: "BlockStored",
          blockHashes: [big],
          parentBlockHash: 7n,
          tokenIds: [1, 2],
          blockSize: 2,
          loraId: 3,
          loraName: "sql",
        },
        { type: "BlockRemoved", blockHashes: [big] },
        { type: "AllBlocksCleared" },
      ],
      0,
    );
    const decoded = decode(payload, { useBigInt64: true });
    expect(decoded).to.deep.equal([
      1.5,
      [
        {
          type: "BlockStored",
          block_hashes: [big],
          parent_block_hash: 7n,
          token_ids: [1, 2],
          block_size: 2,
          lora_id: 3,
          medium: "GPU",
          lora_name: "sql",
          extra_keys: [["sql"]],
          group_idx: 0,
        },
        { type: "BlockRemoved", block_hashes: [big], medium: "GPU", group_idx: 0 },
        { type: "AllBlocksCleared" },
      ],
      0,
    ]);
    // The router's decoder reads what the simulator writes.
    expect(decodeKvEventBatch(payload).events[0]).to.deep.include({ hashes: [big], loraName: "sql", groupIdx: 0 });
    expect([...seqBytes(258n)]).to.deep.equal([0, 0, 0, 0, 0, 0, 1, 2]);
  });

  it("parses completions and chat bodies and rejects bad fields by name", () => {
    const c = parseRequest("completions", { model: "m", prompt: "a b", max_tokens: 3, stop: "x" });
    expect(c).to.deep.include({ model: "m", maxTokens: 3, stream: false, stop: ["x"] });
    expect(c.promptTokens).to.deep.equal(tokenize("a b"));
    expect(parseRequest("completions", { model: "m", prompt: [5, 6, 7] }).promptTokens).to.deep.equal([5, 6, 7]);
    const chat = parseRequest("chat", {
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(chat.includeUsage).to.equal(true);
    expect(() => parseRequest("completions", [])).to.throw(/request body: must be a JSON object/);
    expect(() => parseRequest("completions", { prompt: "x" })).to.throw(/^model: a model name is required/);
    expect(() => parseRequest("completions", { model: "m" })).to.throw(/^prompt: is required/);
    expect(() => parseRequest("completions", { model: "m", prompt: "  " })).to.throw(/^prompt: must contain/);
    expect(() => parseRequest("completions", { model: "m", prompt: ["a", "b"] })).to.throw(/batched prompts/);
    expect(() => parseRequest("chat", { model: "m", messages: [{ content: "x" }] })).to.throw(
      /^messages\[0\]\.role: must be a string/,
    );
    expect(() => parseRequest("completions", { model: "m", prompt: "x", stop: 3 })).to.throw(/^stop: must be/);
    expect(() => parseRequest("completions", { model: "m", prompt: "x", max_tokens: 1.5 })).to.throw(
      /^max_tokens: 1.5 must be an integer >= 1/,
    );
    expect(contextTooLong(100, 90, 20).message).to.match(/you requested 110 tokens \(90 in the messages, 20 in/);
  });

  it("renders SSE chunks that parse as OpenAI chunk objects", () => {
    const w = new ChunkWriter("chat", "id1", 1, "m");
    const parse = (s: string) => JSON.parse(s.replace(/^data: /, "").trim()) as Record<string, unknown>;
    expect(parse(w.opening())).to.deep.include({ object: "chat.completion.chunk" });
    const tok = parse(w.token(JSON.stringify(' "q"'))) as { choices: { delta: { content: string } }[] };
    expect(tok.choices[0]!.delta.content).to.equal(' "q"');
    const last = parse(w.last('" x"', "length")) as { choices: { finish_reason: string }[] };
    expect(last.choices[0]!.finish_reason).to.equal("length");
    expect(parse(w.usage(usage(2, 3)))).to.deep.include({
      choices: [],
      usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5, prompt_tokens_details: null },
    });
    expect(w.done()).to.equal("data: [DONE]\n\n");
  });

  it("generates replies of one token per word and cuts at stop strings", () => {
    const r = new ReplyText(42);
    expect(tokenize(r.text(20))).to.have.length(20);
    for (let i = 0; i < 20; i++) expect(tokenize(r.word(i))).to.deep.equal([r.tokenId(i)]);
    const stop = r.word(4);
    const cut = r.stopPoint([stop], 50);
    expect(cut.stopped).to.equal(true);
    expect(cut.text).to.not.include(stop);
    expect(r.stopPoint(["\u2603"], 10)).to.deep.include({ tokens: 10, stopped: false });
  });

  it("validates fault settings", () => {
    expect(FaultState.parsePatch({ slowdown: 2, hang: false })).to.deep.equal({ slowdown: 2, hang: false });
    expect(() => FaultState.parsePatch({ slowdown: 0 })).to.throw("slowdown: 0 must be a positive number");
    expect(() => FaultState.parsePatch({ hang: "yes" })).to.throw('hang: "yes" must be true or false');
    expect(() => FaultState.parsePatch({ metricOverrides: { a: "x" } })).to.throw(
      'metricOverrides.a: "x" must be a number or null',
    );
    expect(() => FaultState.parsePatch(null)).to.throw(/body must be a JSON object/);
  });
});
