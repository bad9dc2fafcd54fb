// Pod ranges for the clusters one test process starts, one slice of the namespaced range each. kwok hands addresses
// out from the start of its range, so clusters that share a range all give their first pod the same IP. An engine
// from an earlier test file that is still closing, or that a failed hook never stopped, then makes the next file's
// first engine fail with EADDRINUSE; with a slice per cluster the files cannot collide.
import { assertPodRangeIsLocal, NAMESPACED_POD_CIDR } from "../../cluster/pod-network.js";

const SLICES = 16;
const [first, second] = NAMESPACED_POD_CIDR.split(".");
let started = 0;

/** The next /20 of the namespaced /16 (4,096 addresses), taken in turn; throws unless the range is local here. */
export async function nextTestPodCidr(): Promise<string> {
  await assertPodRangeIsLocal(NAMESPACED_POD_CIDR);
  const slice = started++ % SLICES;
  return `${first}.${second}.${slice * (256 / SLICES)}.0/20`;
}
