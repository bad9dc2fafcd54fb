import { expect } from "chai";
import { bindPod, type BindingRequest, type PodBinder } from "../../../extender/bind.js";
import { ClusterState } from "../../../extender/state.js";
import { Scheduling } from "../../../api/labels.js";
import type { PodObject } from "../../../extender/wire.js";
import { node, pod, PRODUCTS } from "./fleet.js";

/** A binder that answers after `delayMs`, refusing when `refuse` is set. */
function slowBinder(delayMs: number, refuse?: string): PodBinder & { posted: BindingRequest[] } {
  const posted: BindingRequest[] = [];
  return {
    posted,
    async bind(req) {
      posted.push(req);
      await new Promise((r) => setTimeout(r, delayMs));
      if (refuse) throw new Error(refuse);
    },
    async getPod(): Promise<PodObject> {
      throw new Error("not expected");
    },
  };
}

describe("extender bind", () => {
  function setup() {
    const state = new ClusterState();
    state.upsertNode(node("n1", { product: PRODUCTS.H100, gpus: 8 }));
    const p = pod("p", { model: "m", gpus: 2 });
    state.upsertPod(p);
    const args = { PodName: "p", PodNamespace: "default", PodUID: p.metadata!.uid!, Node: "n1" };
    return { state, args };
  }

  it("reports how long the Binding POST took, and pins the devices it held", async () => {
    const { state, args } = setup();
    const binder = slowBinder(30);
    const posts: number[] = [];
    const out = await bindPod(state, binder, args, Scheduling.gpuResource, (s) => posts.push(s));
    expect(out).to.deep.equal({ error: "", devices: [0, 1] });
    expect(binder.posted[0]!.annotations).to.deep.equal({ [Scheduling.assignedDevices]: "0,1" });
    expect(posts).to.have.length(1);
    expect(posts[0]).to.be.within(0.025, 1);
  });

  it("reports a refused POST's time too, and gives the devices back", async () => {
    const { state, args } = setup();
    const posts: number[] = [];
    const out = await bindPod(state, slowBinder(5, "conflict"), args, Scheduling.gpuResource, (s) => posts.push(s));
    expect(out.error).to.match(/binding default\/p to n1 failed: conflict/);
    expect(posts).to.have.length(1);
    expect(state.devicesOf(args.PodUID)).to.equal(undefined);
  });
});
