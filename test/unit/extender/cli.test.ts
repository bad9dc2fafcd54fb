import { expect } from "chai";
import { Command } from "commander";
import { parseWeights, registerExtender } from "../../../cli/extender.js";

describe("aibrix-ts extender command", () => {
  it("parses score weights and names a bad term", () => {
    expect(parseWeights("")).to.deep.equal({});
    expect(parseWeights("cost=2, packing=0.5")).to.deep.equal({ cost: 2, packing: 0.5 });
    expect(() => parseWeights("speed=1")).to.throw('--weights: unknown term "speed"; use cost, deficit and packing');
    expect(() => parseWeights("deficit=-1")).to.throw("--weights: deficit=-1 must be a number >= 0");
    expect(() => parseWeights("cost")).to.throw("--weights: cost= must be a number >= 0");
  });

  it("registers its flags", () => {
    const program = new Command();
    registerExtender(program);
    const cmd = program.commands.find((c) => c.name() === "extender")!;
    const flags = cmd.options.map((o) => o.long);
    for (const f of ["--port", "--prefix", "--profiles", "--profiles-configmap", "--recommendations", "--weights"]) {
      expect(flags).to.include(f);
    }
  });
});
