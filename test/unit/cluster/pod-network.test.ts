import { expect } from "chai";
import { assertPodRangeIsLocal, podRangeIsLocal, sampleAddresses } from "../../../cluster/pod-network.js";

describe("engine pods: pod network", () => {
  it("samples the first, middle and last host address of a range", () => {
    expect(sampleAddresses("10.244.0.0/16")).to.deep.equal(["10.244.0.1", "10.244.128.0", "10.244.255.254"]);
    expect(sampleAddresses("127.9.3.7/24")).to.deep.equal(["127.9.3.1", "127.9.3.128", "127.9.3.254"]);
    expect(() => sampleAddresses("10.244.0.0")).to.throw(/must be an IPv4 CIDR/);
    expect(() => sampleAddresses("10.300.0.0/16")).to.throw(/not an IPv4 address/);
  });

  it("a loopback range is local; a documentation range (TEST-NET-1) is not, and the error says what to do", async () => {
    expect(await podRangeIsLocal("127.77.0.0/16")).to.equal(true);
    expect(await podRangeIsLocal("192.0.2.0/24")).to.equal(false);
    let message = "";
    await assertPodRangeIsLocal("192.0.2.0/24").catch((err: Error) => (message = err.message));
    expect(message).to.match(/pod range 192.0.2.0\/24 is not local.*run the command under scripts\/netns.sh/);
  });

  it("inside scripts/netns.sh the namespaced pod range is local", async function () {
    if (process.env.AIBRIX_TS_NETNS !== "10.244.0.0/16") {
      throw new Error("run this suite under scripts/netns.sh (npm test does): AIBRIX_TS_NETNS is not set");
    }
    expect(await podRangeIsLocal("10.244.0.0/16")).to.equal(true);
  });
});
