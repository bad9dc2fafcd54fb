import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ModelTokenizer } from "../../../api/model-tokenizer.js";
import { TINY_TOKENIZER_DIR, vllmVectors } from "../../support/vllm-vectors.js";

describe("the model's tokenizer and chat template", () => {
  let tok: ModelTokenizer;
  before(async () => {
    tok = await ModelTokenizer.load(TINY_TOKENIZER_DIR);
  });

  it("gives the token ids vLLM's renderer gives, for chat and completions", () => {
    const cases = vllmVectors.prompts;
    expect(cases.filter((c) => c.kind === "chat")).to.have.length.greaterThan(1);
    for (const c of cases) {
      if (c.kind === "chat") {
        expect(tok.renderChat(c.messages), "rendered chat").to.equal(c.text);
        expect(tok.chatTokenIds(c.messages), c.text).to.deep.equal(c.ids);
      } else {
        expect(tok.completionTokenIds(c.prompt), c.prompt).to.deep.equal(c.ids);
      }
    }
  });

  it("caches the pieces between special tokens, and the cut never changes the ids", () => {
    const system = { role: "system", content: "A long shared system prompt. ".repeat(40) };
    const a = tok.chatTokenIds([system, { role: "user", content: "first question" }]);
    const hitsBefore = tok.pieceHits;
    const b = tok.chatTokenIds([system, { role: "user", content: "second question" }]);
    expect(tok.pieceHits).to.be.greaterThan(hitsBefore);
    const text = tok.renderChat([system, { role: "user", content: "second question" }]);
    expect(b).to.deep.equal(tok.encodeWhole(text, false));
    expect(a.slice(0, 100)).to.deep.equal(b.slice(0, 100));
  });

  it("joins text parts with a newline, as vLLM does for string-content templates", () => {
    const parts = [
      {
        role: "user",
        content: [
          { type: "text", text: "one" },
          { type: "text", text: "two" },
        ],
      },
    ];
    expect(tok.renderChat(parts)).to.contain("one\ntwo<|im_end|>");
  });

  it("names the file and the problem when a tokenizer cannot be loaded", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tok-"));
    try {
      let err = await ModelTokenizer.load(dir).catch((e: Error) => e);
      expect(String(err)).to.match(/tokenizer\.json: cannot read the model's tokenizer file/);
      writeFileSync(path.join(dir, "tokenizer.json"), "{not json");
      err = await ModelTokenizer.load(dir).catch((e: Error) => e);
      expect(String(err)).to.match(/tokenizer\.json: not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
