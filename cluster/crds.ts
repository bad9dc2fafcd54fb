// Our CustomResourceDefinitions, generated from api/ as the chart ships them, applied to a cluster and waited on.
import { setTimeout as sleep } from "node:timers/promises";
import { crdFor, KINDS } from "../api/index.js";
import type { KubeApi } from "./api.js";

/** Creates every CRD (an existing one is left as it is) and resolves once the API server serves them all. */
export async function installCrds(api: KubeApi, timeoutMs = 30_000): Promise<void> {
  for (const def of KINDS) {
    const res = await api.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crdFor(def));
    if (res.status !== 201 && res.status !== 409) {
      throw new Error(`creating the ${def.kind} CRD: HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const def of KINDS) {
    while ((await api.request("GET", `/apis/${def.group}/${def.version}/${def.plural}`)).status !== 200) {
      if (Date.now() > deadline) throw new Error(`the ${def.kind} CRD is not served after ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}
