// The CLI loads only the module of the command it runs; every name it looks up must be the command that module adds.
import { expect } from "chai";
import { buildProgram, COMMANDS } from "../../../cli/program.js";

describe("CLI program", () => {
  it("registers exactly the named command when given one of its names", async () => {
    for (const name of Object.keys(COMMANDS)) {
      const program = await buildProgram(name);
      expect(
        program.commands.map((c) => c.name()),
        name,
      ).to.deep.equal([name]);
    }
  });

  it("registers every command for help, no command or an unknown one", async () => {
    for (const arg of [undefined, "help", "no-such-command"]) {
      const program = await buildProgram(arg);
      expect(program.commands.map((c) => c.name())).to.deep.equal(Object.keys(COMMANDS));
    }
  });
});
