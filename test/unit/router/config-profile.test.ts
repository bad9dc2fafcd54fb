import { expect } from "chai";
import type { V1Pod } from "@kubernetes/client-node";
import { Model } from "../../../api/labels.js";
import { podToEndpoint, reportOncePerPod, snapshotFrom } from "../../../router/discovery/kubernetes.js";
import { EndpointFileError, parseEndpointFile } from "../../../router/discovery/static.js";
import { Endpoint, type EndpointSpec } from "../../../router/endpoints/endpoints.js";
import { KvBlockIndex } from "../../../router/picking/kv-index.js";
import { PrefixIndex } from "../../../router/picking/prefix-index.js";
import { PipelineCatalog, StrategyError } from "../../../router/picking/pipelines.js";
import {
  ConfigProfileError,
  parseConfigProfiles,
  selectConfigProfile,
} from "../../../router/profiles/config-profile.js";
import { StrategySelector } from "../../../router/profiles/strategy.js";
import type { ConfigProfileDoc } from "../../../router/profiles/types.js";

const doc: ConfigProfileDoc = parseConfigProfiles(
  JSON.stringify({
    defaultProfile: "balanced",
    profiles: {
      balanced: { routingStrategy: "least-request" },
      cache: { routingStrategy: "prefix-cache:3,least-request:1", routingConfig: { blockSize: 16 } },
      long: { routingStrategy: "least-kv-cache", match: { promptTokensGte: 1000 } },
      default: { routingStrategy: "random" },
    },
  }),
  "test",
);

function pod(name: string, annotations: Record<string, string> = {}, uid = name): V1Pod {
  return {
    metadata: { name, namespace: "ns", uid, labels: { [Model.name]: "llama" }, annotations },
    status: { podIP: "10.0.0.9", phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  };
}

const made: Endpoint[] = [];
function pool(config?: ConfigProfileDoc): Endpoint[] {
  const spec: EndpointSpec = {
    id: "10.0.0.1:8000",
    host: "10.0.0.1",
    port: 8000,
    model: "m",
    adapters: [],
    engine: "vllm",
    ...(config ? { config } : {}),
  };
  const e = new Endpoint(spec, { connections: 1, connectTimeoutMs: 100 });
  made.push(e);
  return [e];
}

after(async () => {
  await Promise.all(made.map((e) => e.close()));
});

describe("config profiles: the document", () => {
  it("parses JSON text or a mapping and ignores fields it does not know", () => {
    const d = parseConfigProfiles(
      { lockedRoutingStrategy: "random", profiles: { pd: { routingStrategy: "random", combined: true } }, name: "x" },
      "here",
    );
    expect(d).to.deep.equal({ lockedRoutingStrategy: "random", profiles: { pd: { routingStrategy: "random" } } });
    expect(doc.profiles.cache!.routingConfig).to.deep.equal({ blockSize: 16 });
    expect(doc.profiles.long!.match).to.deep.equal({ promptTokensGte: 1000 });
  });

  it("rejects bad documents naming the field, the value and the rule", () => {
    const bad: [unknown, RegExp][] = [
      ["{not json", /^here: not valid JSON .*expected \{"profiles"/],
      [[], /^here: \[\] must be an object/],
      [{}, /^here\.profiles: undefined is required: a mapping of name → profile/],
      [{ profiles: { a: {} } }, /^here\.profiles\.a\.routingStrategy: undefined is required/],
      [
        { profiles: { a: { routingStrategy: 7 } } },
        /^here\.profiles\.a\.routingStrategy: 7 must be a non-empty string/,
      ],
      [{ profiles: { a: { routingStrategy: "random", requestsPerSecond: -1 } } }, /requestsPerSecond: -1 must be ≥ 0/],
      [
        { profiles: { a: { routingStrategy: "random", match: { maxTokensLt: 1.5 } } } },
        /^here\.profiles\.a\.match\.maxTokensLt: 1\.5 must be an integer ≥ 0/,
      ],
      [{ profiles: { a: { routingStrategy: "random", routingConfig: "x" } } }, /routingConfig: "x" must be a mapping/],
      [{ defaultProfile: "b", profiles: { a: { routingStrategy: "random" } } }, /defaultProfile: "b" must name one of/],
      [{ lockedRoutingStrategy: "", profiles: {} }, /^here\.lockedRoutingStrategy: "" must be a non-empty string/],
    ];
    for (const [input, message] of bad) {
      expect(() => parseConfigProfiles(input, "here"), JSON.stringify(input)).to.throw(ConfigProfileError, message);
    }
  });

  it("selects the named profile, else the first whose match holds, else defaultProfile, else default", () => {
    const facts = (promptTokens: number, maxTokens?: number) => ({ promptTokens: () => promptTokens, maxTokens });
    expect(selectConfigProfile(doc, "cache", facts(10))?.name).to.equal("cache");
    expect(selectConfigProfile(doc, undefined, facts(5000))?.name).to.equal("long");
    expect(selectConfigProfile(doc, undefined, facts(10))?.name).to.equal("balanced");
    expect(selectConfigProfile(doc, "nope", facts(10))?.name).to.equal("balanced");
    const noDefault = parseConfigProfiles({ profiles: { default: { routingStrategy: "random" } } }, "d");
    expect(selectConfigProfile(noDefault, undefined, facts(1))?.name).to.equal("default");
    const none = parseConfigProfiles({ profiles: { x: { routingStrategy: "random" } } }, "d");
    expect(selectConfigProfile(none, undefined, facts(1))).to.equal(undefined);
    const maxed = parseConfigProfiles(
      { profiles: { short: { routingStrategy: "random", match: { maxTokensGte: 10, maxTokensLt: 100 } } } },
      "d",
    );
    expect(selectConfigProfile(maxed, undefined, facts(1, 50))?.name).to.equal("short");
    expect(selectConfigProfile(maxed, undefined, facts(1, 100))).to.equal(undefined);
    expect(selectConfigProfile(maxed, undefined, facts(1))).to.equal(undefined);
  });
});

describe("config profiles: strategy precedence", () => {
  const catalog = new PipelineCatalog({ prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() });
  const fallback = catalog.resolve("throughput");
  const body = { model: "m", prompt: "hi" };
  const choose = (p: Endpoint[], headers: Record<string, string>, sel = new StrategySelector(catalog, fallback)) => {
    const c = sel.choose(p, headers, "/v1/completions", body);
    return [c.pipeline.name, c.configProfile];
  };

  it("without a document: header, else the router default; no profile name", () => {
    const p = pool();
    expect(choose(p, {})).to.deep.equal(["throughput", undefined]);
    expect(choose(p, { "routing-strategy": "random" })).to.deep.equal(["random", undefined]);
    expect(() => choose(p, { "routing-strategy": "fastest" })).to.throw(StrategyError, /unknown routing strategy/);
  });

  it("header beats the profile's routingStrategy, which beats the router default", () => {
    const p = pool(doc);
    expect(choose(p, {})).to.deep.equal(["least-request", "balanced"]);
    expect(choose(p, { "config-profile": "cache" })).to.deep.equal(["prefix-cache:3,least-request:1", "cache"]);
    expect(choose(p, { "config-profile": "cache", "routing-strategy": "random" })).to.deep.equal(["random", "cache"]);
    expect(() => choose(p, { "routing-strategy": "fastest" })).to.throw(StrategyError);
  });

  it("lockedRoutingStrategy beats the header", () => {
    const locked = parseConfigProfiles({ lockedRoutingStrategy: "least-kv-cache", profiles: doc.profiles }, "d");
    const p = pool(locked);
    expect(choose(p, { "routing-strategy": "random", "config-profile": "cache" })).to.deep.equal([
      "least-kv-cache",
      "cache",
    ]);
  });

  it("an unknown strategy in the document is logged once and skipped, never a client error", () => {
    const warnings: string[] = [];
    const sel = new StrategySelector(catalog, fallback, (m) => warnings.push(m));
    const broken = parseConfigProfiles(
      { lockedRoutingStrategy: "nope", profiles: { default: { routingStrategy: "fastest" } } },
      "d",
    );
    const p = pool(broken);
    expect(choose(p, {}, sel)).to.deep.equal(["throughput", "default"]);
    expect(choose(p, { "routing-strategy": "random" }, sel)).to.deep.equal(["random", "default"]);
    expect(choose(p, {}, sel)).to.deep.equal(["throughput", "default"]);
    expect(warnings).to.have.length(2);
    expect(warnings[0]).to.match(/lockedRoutingStrategy: .*unknown routing strategy "nope"/);
    expect(warnings[1]).to.match(/profiles\.default\.routingStrategy: .*"fastest"/);
  });
});

describe("config profiles: discovery", () => {
  it("Kubernetes: reads the annotation onto the endpoint", () => {
    const spec = podToEndpoint(pod("p0", { [Model.config]: JSON.stringify({ profiles: doc.profiles }) }));
    expect(spec?.config?.profiles.cache?.routingStrategy).to.equal("prefix-cache:3,least-request:1");
    expect(podToEndpoint(pod("p1"))?.config).to.equal(undefined);
  });

  it("Kubernetes: a malformed annotation keeps the pod routable and is reported once per pod and text", () => {
    const warnings: string[] = [];
    const report = reportOncePerPod((m) => warnings.push(m));
    const bad = pod("p2", { [Model.config]: '{"profiles": {"a": {"routingStrategy": 3}}}' });
    for (let i = 0; i < 3; i++) {
      const snap = snapshotFrom([bad, pod("p3", { [Model.config]: "{" })], [], report);
      expect(snap.endpoints).to.have.length(2);
      expect(snap.endpoints.every((e) => e.config === undefined)).to.equal(true);
    }
    expect(warnings).to.have.length(2);
    expect(warnings[0]).to.match(
      /^pod ns\/p2 annotation model\.aibrix\.ai\/config\.profiles\.a\.routingStrategy: 3 must be a non-empty string/,
    );
    expect(warnings[1]).to.match(/^pod ns\/p3 annotation model\.aibrix\.ai\/config: not valid JSON/);
    // The same pod with a different (still bad) text is reported again.
    snapshotFrom([pod("p2", { [Model.config]: "[]" })], [], report);
    expect(warnings).to.have.length(3);
  });

  it("static file: an optional config mapping or JSON text, with errors naming the entry and field", () => {
    const specs = parseEndpointFile(
      [
        "endpoints:",
        "  - model: m",
        "    url: http://127.0.0.1:8001",
        "    config: {defaultProfile: fast, profiles: {fast: {routingStrategy: least-request}}}",
        "  - model: m",
        "    url: http://127.0.0.1:8002",
        `    config: '{"profiles": {"fast": {"routingStrategy": "random"}}}'`,
        "  - model: m",
        "    url: http://127.0.0.1:8003",
      ].join("\n"),
      "f.yaml",
    );
    expect(specs[0]!.config).to.deep.equal({
      defaultProfile: "fast",
      profiles: { fast: { routingStrategy: "least-request" } },
    });
    expect(specs[1]!.config?.profiles.fast?.routingStrategy).to.equal("random");
    expect(specs[2]!.config).to.equal(undefined);
    expect(() =>
      parseEndpointFile("- {model: m, url: 'http://127.0.0.1:8001', config: {profiles: {a: {}}}}", "f.yaml"),
    ).to.throw(
      EndpointFileError,
      /^f\.yaml: endpoints\[0\]\.config\.profiles\.a\.routingStrategy: undefined is required/,
    );
  });
});
