import { expect } from "chai";
import { Endpoint, EndpointRegistry } from "../../../../router/endpoints/endpoints.js";
import { modelLimit, readLimit, tooLarge } from "../../../../router/request-path/body-limits.js";
import { chooseEndpoint } from "../../../../router/request-path/choose-endpoint.js";
import { validateBody } from "../../../../router/request-path/parse.js";
import { usageOf } from "../../../../router/request-path/relay.js";
import { pathOf, RequestIds, routeRefusal } from "../../../../router/request-path/routes.js";
import { noEndpointsFor } from "../../../../router/request-path/strategy.js";
import { SelectorError } from "../../../../router/picking/filters.js";
import { maxScore } from "../../../../router/picking/pickers.js";
import type { PickRequest, Pipeline } from "../../../../router/picking/types.js";
import { contextBodyBytes } from "../../../../router/prompts/prompt-bounds.js";

const opened: Endpoint[] = [];
function endpoint(n: number, maxModelLen?: number): Endpoint {
  const ep = new Endpoint(
    { id: `10.0.0.${n}:8000`, host: `10.0.0.${n}`, port: 8000, model: "m", adapters: [], engine: "vllm", labels: {} },
    { connections: 1, connectTimeoutMs: 100 },
  );
  ep.maxModelLen = maxModelLen;
  opened.push(ep);
  return ep;
}

after(async () => {
  for (const ep of opened) await ep.close();
});

describe("request path: routes", () => {
  it("strips the query, refuses unknown paths with 404 and wrong methods with 405", () => {
    expect(pathOf("/v1/completions?x=1")).to.equal("/v1/completions");
    expect(pathOf(undefined)).to.equal("/");
    expect(routeRefusal("POST", "/v1/chat/completions")).to.equal(undefined);
    const wrongMethod = routeRefusal("GET", "/v1/chat/completions")!;
    expect(wrongMethod).to.include({ status: 405, code: "method_not_allowed" });
    expect(wrongMethod.headers).to.deep.equal({ allow: "POST", connection: "close" });
    expect(routeRefusal("POST", "/v1/models")!.headers!.allow).to.equal("GET");
    expect(routeRefusal("POST", "/nowhere")).to.include({ status: 404, code: "not_found" });
  });

  it("keeps a sane client request id and makes one otherwise", () => {
    const ids = new RequestIds("abcd");
    expect(ids.of("client-1")).to.equal("client-1");
    expect(ids.of(undefined)).to.equal("abcd-1");
    expect(ids.of("x".repeat(129))).to.equal("abcd-2");
    expect(ids.of(["a", "b"])).to.equal("abcd-3");
  });
});

describe("request path: parse", () => {
  it("names the first field the router cannot route on", () => {
    expect(validateBody("/v1/completions", { model: "m", prompt: "hi" })).to.equal(undefined);
    expect(validateBody("/v1/completions", { prompt: "hi" })).to.include({ status: 400, param: "model" });
    expect(validateBody("/v1/completions", { model: "m", stream: "yes" })).to.include({ param: "stream" });
    expect(validateBody("/v1/chat/completions", { model: "m", messages: [] })).to.include({ param: "messages" });
    expect(validateBody("/v1/embeddings", { model: "m", input: "" })).to.include({ param: "input" });
    expect(validateBody("/v1/embeddings", { model: "m", input: "x", stream: false })).to.include({ param: "stream" });
    expect(validateBody("/v1/rerank", { model: "m", query: "q", documents: [] })).to.include({ param: "documents" });
  });
});

describe("request path: relay", () => {
  const body = (o: unknown, space?: number) => Buffer.from(JSON.stringify(o, null, space));

  it("reads the engine's usage from a buffered answer, however it is formatted", () => {
    const answer = {
      id: "cmpl-1",
      choices: [{ text: 'he said "usage": {"completion_tokens": 99} and left', logprobs: null }],
      usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10, prompt_tokens_details: { cached_tokens: 0 } },
      system_fingerprint: null,
    };
    expect(usageOf(body(answer))).to.deep.equal({ prompt_tokens: 7, completion_tokens: 3 });
    expect(usageOf(body(answer, 2))).to.deep.equal({ prompt_tokens: 7, completion_tokens: 3 });
    expect(usageOf(body({ usage: { completion_tokens: 5 } }))).to.deep.equal({
      prompt_tokens: 0,
      completion_tokens: 5,
    });
  });

  it("reports no usage when the answer has none or it is not a usage object", () => {
    expect(usageOf(body({ choices: [{ text: "usage" }] }))).to.equal(undefined);
    expect(usageOf(body({ choices: [{ text: 'a "usage": {"completion_tokens": 1}' }] }))).to.equal(undefined);
    expect(usageOf(body({ usage: null }))).to.equal(undefined);
    expect(usageOf(body({ usage: { prompt_tokens: 3 } }))).to.equal(undefined);
    expect(usageOf(Buffer.from('{"usage": {"completion_tokens": '))).to.equal(undefined);
    expect(usageOf(Buffer.from("not json"))).to.equal(undefined);
  });
});

describe("request path: body limits", () => {
  it("hold a model to what its context can use once every endpoint reports one", () => {
    const max = 16 * 1024 * 1024;
    expect(modelLimit([endpoint(1, 4096), endpoint(2)], max)).to.deep.equal({ bytes: max });
    const limit = modelLimit([endpoint(3, 4096), endpoint(4, 8192)], max);
    expect(limit).to.deep.equal({ bytes: Math.min(max, contextBodyBytes(8192)), context: 8192 });
    expect(readLimit([endpoint(5, 4096)], max)).to.equal(Math.min(max, contextBodyBytes(4096)));
    expect(readLimit([], max)).to.equal(max);
    expect(tooLarge(limit.bytes, "m", limit)).to.equal(undefined);
    const refusal = tooLarge(limit.bytes + 1, "m", limit)!;
    expect(refusal.status).to.equal(413);
    expect(refusal.message).to.contain("its context is 8192 tokens");
  });
});

describe("request path: strategy and pick stages", () => {
  it("answers 503 for a known model without endpoints and 404 naming the served ones otherwise", () => {
    expect(noEndpointsFor("m", true, [])).to.include({ status: 503, code: "service_unavailable" });
    const missing = noEndpointsFor("x", false, ["a", "b"]);
    expect(missing).to.include({ status: 404, message: "model x does not exist; served models: a, b" });
  });

  const request = (): PickRequest => ({ model: "m", promptText: "", headers: {}, hashes: () => [] });
  const pipeline = (filter?: Pipeline["filters"][number]): Pipeline => ({
    name: "p",
    filters: filter ? [filter] : [],
    scorers: [],
    picker: maxScore,
  });
  const env = {
    now: Date.now(),
    staleAfterMs: 1000,
    registry: new EndpointRegistry({ connections: 1, connectTimeoutMs: 100 }, 1000),
  };

  it("picks among the endpoints not tried yet, and times the decision", () => {
    const [a, b] = [endpoint(10), endpoint(11)];
    const timed: number[] = [];
    const req = request();
    const picked = chooseEndpoint({
      pipeline: pipeline(),
      request: req,
      pool: [a, b],
      env,
      exclude: new Set([a]),
      attempt: 1,
      lastFailure: "",
      onDecision: (s) => timed.push(s),
    });
    expect(picked).to.deep.equal({ endpoint: b });
    expect(req.attempt).to.equal(1);
    expect(timed).to.have.length(1);
  });

  it("says why nothing is left, and makes a bad external selector the client's 400", () => {
    const a = endpoint(12);
    const base = { request: request(), pool: [a], env, attempt: 0, lastFailure: "", onDecision: () => {} };
    const none = chooseEndpoint({ ...base, pipeline: pipeline(), exclude: new Set([a]) });
    expect(none).to.have.nested.property("error.message", "no endpoint of model m passed the filters; retry shortly");
    const retried = chooseEndpoint({
      ...base,
      pipeline: pipeline(),
      exclude: new Set([a]),
      attempt: 2,
      lastFailure: "ep connect",
    });
    expect(retried).to.have.nested.property("error.message", "every endpoint tried failed (ep connect); retry shortly");
    const bad = {
      name: "bad",
      filter: () => {
        throw new SelectorError("selector zone=: a value is required");
      },
    };
    const refused = chooseEndpoint({ ...base, pipeline: pipeline(bad), exclude: new Set() });
    expect(refused).to.have.nested.property("error.status", 400);
    expect(refused).to.have.nested.property("error.param", "external-filter");
  });
});
