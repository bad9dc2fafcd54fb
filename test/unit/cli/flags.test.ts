import { expect } from "chai";
import { Command, Option } from "commander";
import { renamedFlag } from "../../../cli/flags.js";

function parse(argv: string[]): Record<string, unknown> {
  const cmd = new Command()
    .exitOverride()
    .option("--calibration <name>")
    .addOption(new Option("--profile <name>").hideHelp());
  cmd.parse(argv, { from: "user" });
  return cmd.opts();
}

describe("renamed command-line flags", () => {
  it("reads the new name without a warning", () => {
    const warnings: string[] = [];
    expect(
      renamedFlag(parse(["--calibration", "a10g-8b"]), "profile", "calibration", (m) => warnings.push(m)),
    ).to.equal("a10g-8b");
    expect(renamedFlag(parse([]), "profile", "calibration", (m) => warnings.push(m))).to.equal(undefined);
    expect(warnings).to.deep.equal([]);
  });

  it("keeps the old name working, warning that it is deprecated", () => {
    const warnings: string[] = [];
    expect(renamedFlag(parse(["--profile", "l4-8b"]), "profile", "calibration", (m) => warnings.push(m))).to.equal(
      "l4-8b",
    );
    expect(warnings).to.deep.equal(["warning: --profile is deprecated; use --calibration (same values)"]);
  });

  it("refuses both names at once", () => {
    expect(() =>
      renamedFlag(parse(["--profile", "l4-8b", "--calibration", "l4-8b"]), "profile", "calibration"),
    ).to.throw("--profile is the deprecated name of --calibration; give only --calibration");
  });

  it("maps multi-word flags to commander's camel-case keys", () => {
    const cmd = new Command()
      .exitOverride()
      .option("--flow-control-config <file>")
      .addOption(new Option("--admission-config <file>").hideHelp());
    cmd.parse(["--admission-config", "f.yaml"], { from: "user" });
    const warnings: string[] = [];
    expect(renamedFlag(cmd.opts(), "admission-config", "flow-control-config", (m) => warnings.push(m))).to.equal(
      "f.yaml",
    );
    expect(warnings).to.deep.equal([
      "warning: --admission-config is deprecated; use --flow-control-config (same values)",
    ]);
  });
});
