import { expect } from "chai";
import { createCore, engineConfigFromOptions } from "../../../simulator/core.js";
import { planReply } from "../../../simulator/generate.js";
import type { ParsedRequest } from "../../../simulator/openai.js";

describe("simulator parts without a server", () => {
  it("builds the engine configuration from the calibration and the options' limits, naming a bad field", () => {
    const { calibration, config } = engineConfigFromOptions({ model: "m", calibration: "a10g-8b", maxNumSeqs: 7 });
    expect(calibration.name).to.equal("a10g-8b");
    expect(config.maxNumSeqs).to.equal(7);
    expect(config.prefixHashAlgo).to.equal("sha256");
    expect(() => engineConfigFromOptions({ model: "" })).to.throw(/^model: a served model name is required/);
    expect(() => engineConfigFromOptions({ model: "m", blockSize: 0 })).to.throw(
      "blockSize: 0 must be a positive integer",
    );
    expect(() => engineConfigFromOptions({ model: "m", kvEventsReplayPort: 0 })).to.throw(/needs kvEventsPort/);
  });

  it("plans a reply: max_tokens caps it, a stop string ends it early with finish_reason stop", async () => {
    const core = await createCore({ model: "m", defaultMaxTokens: 5 });
    const request = (o: Partial<ParsedRequest>): ParsedRequest => ({
      endpoint: "completions",
      model: "m",
      promptTokens: [1, 2, 3],
      maxTokens: 4,
      stream: false,
      includeUsage: false,
      stop: [],
      minTokens: 0,
      ...o,
    });
    const capped = planReply(core, request({}), "cmpl-1", 3);
    expect(capped).to.include({ genTokens: 4, finishReason: "length", stopReason: null });
    const open = planReply(core, request({ maxTokens: undefined }), "cmpl-2", 3);
    expect(open).to.include({ genTokens: 5, finishReason: "stop" });
    const firstWord = capped.reply.text(1);
    const stopped = planReply(core, request({ stop: [firstWord.trim()], maxTokens: 50 }), "cmpl-1", 3);
    expect(stopped.genTokens).to.be.at.most(2);
    expect(stopped).to.include({ finishReason: "stop", stopReason: firstWord.trim() });
    core.loop.stop();
  });
});
