// The optimizer reference's two-type example (A10G at $1.01/h, A100-80GB at $3.67/h) over a 2 × 2 grid of output ×
// input buckets, shared by the plan and service tests.
import { ProfileSet, type GpuProfile, type ProfileDocument } from "../../../api/gpu-profile.js";

export const OUTS = [128, 512];
export const INS = [256, 1024];

const profile = (gpu: string, cost: number, tputs: number[][]): GpuProfile => ({
  gpu,
  cost,
  tputs,
  indexes: [OUTS, INS],
});

/** Model `m` profiled on both types; `gpus` says how the cluster names them. */
export function referenceProfiles(gpus: ProfileDocument["gpus"]): ProfileSet {
  return new ProfileSet({
    gpus,
    models: {
      m: {
        profiles: [
          profile("A10G", 1.01, [
            [2, 1],
            [5, 2],
          ]),
          profile("A100-80GB", 3.67, [
            [20, 20],
            [40, 20],
          ]),
        ],
      },
    },
  });
}
