import { expect } from "chai";
import fc from "fast-check";
import { KnownNameList, scanNamesOnlyArgs } from "../../../extender/args-scan.js";
import { hashBytes, NodeNameTable } from "../../../extender/name-table.js";
import { readExtenderArgs } from "../../../extender/read-args.js";
import { ClusterState } from "../../../extender/state.js";
import { checkExtenderArgs, parseJson } from "../../../extender/wire.js";
import { node, pod } from "./fleet.js";

const NAMES = ["gpu-a", "gpu-b", "gpu-c", "gpu-d"];

function stateWith(names: readonly string[]): ClusterState {
  const state = new ClusterState();
  for (const n of names) state.upsertNode(node(n, { gpus: 8 }));
  return state;
}

/** The general parser's answer, resolved the same way, to compare the scanner against. */
function general(body: string, state: ClusterState) {
  const p = parseJson(body);
  const a = p.ok ? checkExtenderArgs(p.value) : p;
  if (!a.ok) return a;
  const names = a.value.NodeNames;
  return { ok: true, names, records: names?.map((n) => state.node(n)), pod: a.value.Pod };
}

describe("extender node name table", () => {
  it("finds every name by its bytes and nothing else", () => {
    const names = Array.from({ length: 300 }, (_, i) => `node-${i}.example.com`);
    const table = new NodeNameTable(names);
    const find = (s: string) => {
      const b = Buffer.from(`"${s}"`);
      return table.lookup(b, 1, b.length - 1, hashBytes(b, 1, b.length - 1));
    };
    names.forEach((n, i) => expect(find(n)).to.equal(i));
    for (const miss of ["node-300.example.com", "node-1.example.co", "", "node-1.example.comm"]) {
      expect(find(miss)).to.equal(-1);
    }
  });
});

describe("extender request scanner", () => {
  it("resolves names-only bodies in any key order, spacing and case", () => {
    const state = stateWith(NAMES);
    const p = pod("web-1", { gpus: 1 });
    const bodies = [
      JSON.stringify({ Pod: p, Nodes: null, NodeNames: ["gpu-c", "ghost", "gpu-a"] }),
      JSON.stringify({ NodeNames: ["gpu-c", "ghost", "gpu-a"], Pod: p }),
      JSON.stringify({ pod: p, nodeNames: ["gpu-c", "ghost", "gpu-a"], nodes: null }, null, 2),
    ];
    for (const body of bodies) {
      const scanned = scanNamesOnlyArgs(Buffer.from(body), state.nameIndex().table);
      expect(scanned, body).to.not.equal(undefined);
      const r = readExtenderArgs(Buffer.from(body), state);
      expect(r.ok).to.equal(true);
      if (!r.ok) continue;
      expect(r.value.names).to.deep.equal(["gpu-c", "ghost", "gpu-a"]);
      expect(r.value.records!.map((x) => x?.name)).to.deep.equal(["gpu-c", undefined, "gpu-a"]);
      expect(r.value.Pod).to.deep.equal(p);
    }
  });

  it("leaves full Node lists, escapes, unknown keys and bad JSON to the general parser", () => {
    const table = new NodeNameTable(NAMES);
    const p = JSON.stringify(pod("web-1", { gpus: 1 }));
    const declined = [
      `{"Pod":${p},"Nodes":{"items":[]},"NodeNames":null}`,
      `{"Pod":${p},"NodeNames":["gpu\\u002da"]}`,
      `{"Pod":${p},"NodeNames":["gpü"]}`,
      `{"Pod":${p},"Extra":1,"NodeNames":["gpu-a"]}`,
      `{"Pod":${p},"Pod":${p},"NodeNames":["gpu-a"]}`,
      `{"Pod":${p},"NodeNames":["gpu-a",]}`,
      `{"Pod":${p},"NodeNames":["gpu-a"]} x`,
      `{"Pod":${p},"NodeNames":["gpu-a"]`,
      `{"Pod":${p},"NodeNames":null}`,
      `{"Pod":[],"NodeNames":["gpu-a"]}`,
      `{"NodeNames":["gpu-a"]}`,
      `{}`,
      `[]`,
      ``,
    ];
    for (const body of declined) expect(scanNamesOnlyArgs(Buffer.from(body), table), body).to.equal(undefined);
  });

  it("answers bad input with the general parser's field and rule", () => {
    const state = stateWith(NAMES);
    const cases: [string, RegExp][] = [
      [`{"Pod":{"spec":1},"NodeNames":["gpu-a"]}`, /^ExtenderArgs.Pod.spec: got number, rule "object"/],
      [`{"Pod":{"a":}},"NodeNames":["gpu-a"]}`, /^request body is not valid JSON/],
      [`{"Pod":{},"NodeNames":["gpu-a",3]}`, /^ExtenderArgs.NodeNames\[1\]: got number, rule "string"/],
      [`{"Pod":{},"NodeNames":null}`, /both null/],
    ];
    for (const [body, want] of cases) {
      const r = readExtenderArgs(Buffer.from(body), state);
      expect(r.ok, body).to.equal(false);
      if (!r.ok) expect(r.error).to.match(want);
    }
  });

  it("agrees with the general parser on generated bodies", () => {
    const state = stateWith(NAMES);
    const name = fc.oneof(
      fc.constantFrom(...NAMES),
      fc.string({ maxLength: 8 }),
      fc.constantFrom("gpu-a\\", 'q"x', "ünï", "gpu-"),
    );
    const podValue = fc.oneof(
      fc.constant<unknown>(pod("p", { gpus: 2 })),
      fc.constant<unknown>({ metadata: { name: 'x"}]', annotations: { k: "[{\\" } } }),
      fc.constant<unknown>([]),
      fc.constant<unknown>(null),
    );
    const shape = fc.record(
      {
        Pod: podValue,
        Nodes: fc.constantFrom<unknown>(null, { items: [] }),
        NodeNames: fc.oneof(fc.array(name, { maxLength: 6 }), fc.constant(null)),
        nodeNames: fc.array(name, { maxLength: 2 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(shape, fc.boolean(), (args, pretty) => {
        const body = pretty ? JSON.stringify(args, null, 1) : JSON.stringify(args);
        const fast = readExtenderArgs(Buffer.from(body), state);
        const slow = general(body, state);
        expect(fast.ok).to.equal(slow.ok);
        if (!fast.ok || !slow.ok) {
          expect(fast.ok ? "" : fast.error).to.equal("error" in slow ? slow.error : "");
          return;
        }
        expect(fast.value.names).to.deep.equal(slow.names ?? null);
        expect(fast.value.records).to.deep.equal(slow.records ?? null);
        expect(fast.value.Pod).to.deep.equal(slow.pod);
      }),
      { numRuns: 500 },
    );
  });

  it("takes a known list's resolution for the runs a body repeats byte for byte, against the same table only", () => {
    const state = stateWith(NAMES);
    const read = (names: string[], known?: KnownNameList) =>
      readExtenderArgs(Buffer.from(JSON.stringify({ Pod: pod("p"), Nodes: null, NodeNames: names })), state, known);
    const first = read(["gpu-c", "gpu-a", "gpu-d", "gpu-b"]);
    const list = first.ok ? first.value.list : undefined;
    if (!list) throw new Error("the scanner should have read the first body");
    // A known list that says its last name is gpu-a shows which names were taken from it.
    const lying = new KnownNameList(list.table, list.bytes, list.starts, list.ends, [2, 0, 3, 0]);
    const names = (r: ReturnType<typeof readExtenderArgs>) => (r.ok ? r.value.records!.map((x) => x?.name) : []);
    expect(names(read(["gpu-c", "gpu-a", "gpu-d", "gpu-b"], lying))).to.deep.equal([
      "gpu-c",
      "gpu-a",
      "gpu-d",
      "gpu-a",
    ]);
    // After a name it does not have, the list is found again at the next name it has, looked up.
    expect(names(read(["gpu-c", "gpu-ab", "gpu-d", "gpu-b"], lying))).to.deep.equal([
      "gpu-c",
      undefined,
      "gpu-d",
      "gpu-a",
    ]);
    expect(names(read(["gpu-c", "gpu-d", "gpu-b"], lying))).to.deep.equal(["gpu-c", "gpu-d", "gpu-a"]);
    expect(names(read(["gpu-b", "gpu-d", "gpu-c"], lying))).to.deep.equal(["gpu-b", "gpu-d", "gpu-c"]);
    state.upsertNode(node("gpu-z", { gpus: 1 })); // a new name rebuilds the table
    expect(names(read(["gpu-c", "gpu-a", "gpu-d", "gpu-b"], lying))).to.deep.equal([
      "gpu-c",
      "gpu-a",
      "gpu-d",
      "gpu-b",
    ]);
  });

  it("reads any body the same with or without a known list", () => {
    const many = Array.from({ length: 150 }, (_, i) => `node-${i}`);
    const state = stateWith(many);
    const name = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...many) },
      { weight: 1, arbitrary: fc.constantFrom("ghost", "node-1x", "node-") },
    );
    const list = fc.array(name, { maxLength: 200 });
    const body = (names: string[], pretty: boolean) =>
      Buffer.from(JSON.stringify({ Pod: pod("p"), NodeNames: names }, null, pretty ? 1 : undefined));
    fc.assert(
      fc.property(list, list, fc.boolean(), fc.boolean(), (before, after, prettyBefore, prettyAfter) => {
        // The second list is mostly the first: kept runs, with the generated names spliced in.
        const next = [
          ...before.slice(0, before.length >> 1),
          ...after.slice(0, 5),
          ...before.slice(before.length >> 1),
        ];
        for (const second of [next, after]) {
          const first = readExtenderArgs(body(before, prettyBefore), state);
          const known = first.ok ? first.value.list : undefined;
          const withKnown = readExtenderArgs(body(second, prettyAfter), state, known);
          const without = readExtenderArgs(body(second, prettyAfter), state);
          expect(withKnown.ok && withKnown.value.names).to.deep.equal(second);
          expect(withKnown.ok && withKnown.value.records).to.deep.equal(without.ok && without.value.records);
          expect(withKnown.ok && withKnown.value.list?.indices).to.deep.equal(
            without.ok && without.value.list?.indices,
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps the survivors of a list as the answer spells them, and refuses another spelling", () => {
    const state = stateWith(NAMES);
    const r = readExtenderArgs(
      Buffer.from(JSON.stringify({ Pod: pod("p"), NodeNames: ["gpu-d", "gpu-a", "gpu-c"] }, null, 2)),
      state,
    );
    const list = r.ok ? r.value.list : undefined;
    if (!list) throw new Error("the scanner should have read the body");
    const survivors = list.subset([0, 2], Buffer.from('"gpu-d","gpu-c"'))!;
    expect(survivors.indices.map((i) => list.table.names[i])).to.deep.equal(["gpu-d", "gpu-c"]);
    const prio = readExtenderArgs(Buffer.from(`{"Pod":{},"NodeNames":["gpu-d","gpu-c"]}`), state, survivors);
    expect(prio.ok && prio.value.names).to.deep.equal(["gpu-d", "gpu-c"]);
    expect(list.subset([0, 2], Buffer.from('"gpu-d", "gpu-c"'))).to.equal(undefined);
    expect(list.subset([], Buffer.alloc(0))?.length).to.equal(0);
  });

  it("keeps numbering nodes across updates, deletes and re-adds", () => {
    const state = stateWith(NAMES);
    const body = Buffer.from(JSON.stringify({ Pod: pod("p"), NodeNames: ["gpu-b", "gpu-e"] }));
    const names = (r: ReturnType<typeof readExtenderArgs>) => (r.ok ? r.value.records!.map((x) => x?.name) : []);
    expect(names(readExtenderArgs(body, state))).to.deep.equal(["gpu-b", undefined]);
    state.upsertNode(node("gpu-e", { gpus: 4 }));
    state.deleteNode("gpu-b");
    expect(names(readExtenderArgs(body, state))).to.deep.equal([undefined, "gpu-e"]);
    state.upsertNode(node("gpu-b", { gpus: 4, resourceVersion: "2" }));
    const r = readExtenderArgs(body, state);
    expect(r.ok && r.value.records![0]!.resourceVersion).to.equal("2");
  });

  it("forgets deleted names once most of a large fleet has churned", () => {
    const state = new ClusterState();
    const many = Array.from({ length: 3000 }, (_, i) => `n${i}`);
    for (const n of many) state.upsertNode(node(n, { gpus: 1 }));
    expect(state.nameIndex().table.names.length).to.equal(3000);
    for (const n of many.slice(0, 2000)) state.deleteNode(n);
    const index = state.nameIndex();
    expect(index.table.names.length).to.equal(1000);
    expect(index.records.every((r) => r !== undefined)).to.equal(true);
    const body = Buffer.from(JSON.stringify({ Pod: pod("p"), NodeNames: ["n0", "n2999"] }));
    const r = readExtenderArgs(body, state);
    expect(r.ok && r.value.records!.map((x) => x?.name)).to.deep.equal([undefined, "n2999"]);
  });
});
