import { expect } from "chai";
import { admit } from "../../../webhooks/admission.js";
import { allow, BadReview, deny, envelope, parseAdmissionReview } from "../../../webhooks/review.js";
import { deps, modelPod, review, type Json } from "./fixtures.js";

function badReview(body: unknown): BadReview {
  try {
    parseAdmissionReview(typeof body === "string" ? body : JSON.stringify(body));
  } catch (err) {
    expect(err).to.be.instanceOf(BadReview);
    return err as BadReview;
  }
  throw new Error("expected BadReview");
}

describe("webhooks: AdmissionReview parsing", () => {
  const good = review(modelPod());

  it("parses a well-formed review and keeps uid, kind, operation and objects", () => {
    const req = parseAdmissionReview(JSON.stringify(good));
    expect(req.uid).to.equal("6b1c0e2a-0000-4000-8000-000000000001");
    expect(req.kind).to.deep.equal({ group: "", version: "v1", kind: "Pod" });
    expect(req.operation).to.equal("CREATE");
    expect(req.namespace).to.equal("default");
    expect(req.object?.kind).to.equal("Pod");
    expect(req.oldObject).to.equal(null);
  });

  const cases: [string, unknown, string, string | RegExp][] = [
    ["malformed JSON", "{not json", "(body)", /not valid JSON/],
    ["a JSON array", [], "(body)", /must be a JSON object/],
    [
      "admission.k8s.io/v1beta1",
      { ...good, apiVersion: "admission.k8s.io/v1beta1" },
      "apiVersion",
      /admissionReviewVersions/,
    ],
    ["a missing apiVersion", { ...good, apiVersion: undefined }, "apiVersion", /absent/],
    ["a wrong kind", { ...good, kind: "Pod" }, "kind", /AdmissionReview/],
    ["a missing request", { ...good, request: undefined }, "request", /needs \.request/],
    ["an empty uid", { ...good, request: { ...(good.request as Json), uid: "" } }, "request.uid", /non-empty/],
    [
      "a kind without kind",
      { ...good, request: { ...(good.request as Json), kind: { version: "v1" } } },
      "request.kind",
      /kind/,
    ],
    [
      "an unknown operation",
      { ...good, request: { ...(good.request as Json), operation: "PATCH" } },
      "request.operation",
      /CREATE, UPDATE/,
    ],
    [
      "CREATE without object",
      { ...good, request: { ...(good.request as Json), object: null } },
      "request.object",
      /required/,
    ],
    [
      "a string object",
      { ...good, request: { ...(good.request as Json), object: "pod" } },
      "request.object",
      /object or null/,
    ],
    [
      "a numeric namespace",
      { ...good, request: { ...(good.request as Json), namespace: 7 } },
      "request.namespace",
      /string/,
    ],
  ];
  for (const [what, body, field, message] of cases) {
    it(`rejects ${what} naming the field`, () => {
      const err = badReview(body);
      expect(err.field).to.equal(field);
      expect(err.message).to.match(message as RegExp);
    });
  }

  it("answers a bad body with HTTP 400 {error, field, rule}, never an exception", async () => {
    const result = await admit(deps(), "mutate", Buffer.from(JSON.stringify({ ...good, request: undefined })));
    expect(result.status).to.equal(400);
    expect(result.body).to.include({ field: "request", rule: "required" });
  });

  it("allows DELETE with a null object", () => {
    const req = parseAdmissionReview(JSON.stringify(review(null, { operation: "DELETE", oldObject: modelPod() })));
    expect(req.object).to.equal(null);
    expect(req.oldObject?.kind).to.equal("Pod");
  });

  it("builds responses: uid echoed, base64 JSONPatch, clipped warnings, status on denial", () => {
    const ok = allow("u-1", [{ op: "add", path: "/a", value: 1 }], ["x".repeat(300)]);
    expect(ok.uid).to.equal("u-1");
    expect(ok.patchType).to.equal("JSONPatch");
    expect(JSON.parse(Buffer.from(ok.patch as string, "base64").toString())).to.deep.equal([
      { op: "add", path: "/a", value: 1 },
    ]);
    expect(ok.warnings?.[0]).to.have.length(120);
    const plain = allow("u-2");
    expect(plain).to.deep.equal({ uid: "u-2", allowed: true });
    const no = deny("u-3", 422, "Invalid", "spec.x: 1 breaks rule");
    expect(no).to.deep.equal({
      uid: "u-3",
      allowed: false,
      status: { code: 422, reason: "Invalid", message: "spec.x: 1 breaks rule" },
    });
    expect(envelope(no)).to.include({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" });
  });
});
