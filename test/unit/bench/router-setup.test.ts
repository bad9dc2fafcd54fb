import { expect } from "chai";
import { routerSetupNotes } from "../../../bench/lib/figures.js";
import { thresholdDefaults } from "../../../bench/router-common/processes.js";

// As sglang-router 0.3.2's --help prints them (argparse wraps the lines).
const HELP = `
  --cache-threshold CACHE_THRESHOLD
                        Cache threshold (0.0-1.0) for cache-aware routing
                        (default: 0.3)
  --balance-abs-threshold BALANCE_ABS_THRESHOLD
                        Absolute threshold for load difference. Balancing is
                        triggered if \`(max_load - min_load) > abs_threshold\`
                        and the relative threshold is also met. (default: 64)
  --balance-rel-threshold BALANCE_REL_THRESHOLD
                        Relative threshold for load difference. (default: 1.5)
`;

describe("router setups recorded in results", () => {
  it("reads a peer's threshold defaults from its --help, leaving out those it was given", () => {
    expect(thresholdDefaults(HELP, ["--policy", "cache_aware"])).to.deep.equal({
      "--cache-threshold": "0.3",
      "--balance-abs-threshold": "64",
      "--balance-rel-threshold": "1.5",
    });
    expect(thresholdDefaults(HELP, ["--balance-abs-threshold", "8"])).to.not.have.property("--balance-abs-threshold");
    expect(thresholdDefaults("no help here", [])).to.deep.equal({});
  });

  it("says when a result predates the record, and otherwise names version, flags and defaults", () => {
    expect(routerSetupNotes({})[0]).to.contain("not recorded");
    const notes = routerSetupNotes({
      routers: {
        "sglang-router (cache_aware)": {
          version: "0.3.2",
          args: ["--policy", "cache_aware"],
          defaults: { "--balance-abs-threshold": "64" },
        },
      },
    });
    expect(notes).to.deep.equal([
      "sglang-router (cache_aware) 0.3.2 `--policy cache_aware` (defaults: --balance-abs-threshold 64)",
    ]);
  });
});
