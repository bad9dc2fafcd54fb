import { expect } from "chai";
import { PromptTokens } from "../../../../router/prompts/prompt.js";
import { FlowRequestView, PickRequestView } from "../../../../router/prompts/request-views.js";

describe("request views", () => {
  it("the pick request builds the prompt text only when a strategy reads it", () => {
    let built = 0;
    const prompt = new PromptTokens(() => {
      built++;
      return "a system prompt and a question";
    });
    const view = new PickRequestView("m", undefined, { "x-a": "1" }, prompt);
    expect(built).to.equal(0);
    expect(view.promptText).to.equal("a system prompt and a question");
    expect(view.promptText).to.equal("a system prompt and a question");
    expect(built).to.equal(1);
    expect(view.hashes(4)).to.deep.equal(prompt.blockHashes(4));
    expect(view.attempt).to.equal(0);
  });

  it("flow control sees user, limits and priority from the request, and counts prompt tokens lazily", () => {
    let built = 0;
    const prompt = new PromptTokens(() => {
      built++;
      return "one two three four";
    });
    const view = new FlowRequestView(
      "req-1",
      "m",
      { user: "alice", authorization: "Bearer k" },
      { max_completion_tokens: 64, priority: 2 },
      5,
      prompt,
    );
    expect(built).to.equal(0);
    expect(view).to.include({ id: "req-1", model: "m", user: "alice", authorization: "Bearer k", maxTokens: 64 });
    expect(view).to.include({ priority: 2, profileRps: 5 });
    expect(view.promptTokens).to.equal(prompt.tokenCount).and.be.greaterThan(0);
    const bare = new FlowRequestView("req-2", "m", {}, { max_tokens: 8, priority: "high" }, undefined, prompt);
    expect(bare.user).to.equal(undefined);
    expect(bare.maxTokens).to.equal(8);
    expect(bare.priority).to.equal(undefined);
  });

  it("keeps the lazy getters on the prototype, so per-request objects share one hidden class", () => {
    // A getter defined per object would hang a new hidden class (and the request it closes over) off a weakly held
    // transition that young-generation collections keep alive.
    const prompt = new PromptTokens("x");
    expect(Object.getOwnPropertyDescriptor(new PickRequestView("m", undefined, {}, prompt), "promptText")).to.equal(
      undefined,
    );
    const flowControl = new FlowRequestView("r", "m", {}, {}, undefined, prompt);
    expect(Object.getOwnPropertyDescriptor(flowControl, "promptTokens")).to.equal(undefined);
  });
});
