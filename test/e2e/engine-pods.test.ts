// Engine-backed pods on the real control plane: a Deployment of model pods gets one simulator per pod on the pod's
// IP (10.244.0.0/16 inside the network namespace of scripts/netns.sh, so EndpointSlices accept the addresses), the
// start-up delay holds the pods' readiness back, a deleted pod's engine stops, and an engine restart drops the
// adapters loaded at run time.
import { expect } from "chai";
import { startCluster, type LoopbackCluster } from "../../cluster/index.js";
import { startEnginePods, type EnginePods } from "../../cluster/engine-pods.js";
import { nextTestPodCidr } from "../support/pod-ranges.js";
import { waitFor } from "./env.js";

const NS = "engines";
const MODEL = "llama-3-8b";
const STARTUP_DELAY_MS = 3_000;

type Condition = { type: string; status: string; lastTransitionTime?: string };
type Pod = {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: Condition[];
    containerStatuses?: { name: string; restartCount: number }[];
  };
};
type EndpointSlice = { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] };

const readyOf = (p: Pod) => p.status.conditions?.find((c) => c.type === "Ready")?.status;

async function models(url: string): Promise<string[] | undefined> {
  try {
    const res = await fetch(`${url}/v1/models`, { signal: AbortSignal.timeout(2_000) });
    const body = (await res.json()) as { data: { id: string }[] };
    return body.data.map((m) => m.id);
  } catch {
    return undefined; // nothing listens there
  }
}

describe("engine-backed pods on the loopback cluster (10.244.0.0/16 in a network namespace)", function () {
  let cluster: LoopbackCluster;
  let engines: EnginePods;
  /** Ready transitions per pod name as the watch saw them, with the time each was seen. */
  const readiness = new Map<string, { status: string; at: number }[]>();
  /** When each pod was first seen Running with an IP. */
  const runningSince = new Map<string, number>();
  let stopWatch: (() => void) | undefined;
  const api = () => cluster.api;
  const pods = async () =>
    (await api().get<{ items: Pod[] }>(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dllama`)).items;

  before(async function () {
    this.timeout(60 * 60_000); // a cold machine builds the binaries first
    cluster = await startCluster({
      podCidr: await nextTestPodCidr(),
      nodes: [{ name: "gpu-a100", count: 2, gpusPerNode: 8, product: "NVIDIA-A100-SXM4-80GB" }],
    });
    await api().create("/api/v1/namespaces", { metadata: { name: NS } });
    const watch = await api().watch<Pod>(`/api/v1/namespaces/${NS}/pods`, (ev) => {
      const p = ev.object;
      if (!p.metadata?.name) return;
      if (p.status?.phase === "Running" && p.status.podIP && !runningSince.has(p.metadata.name)) {
        runningSince.set(p.metadata.name, Date.now());
      }
      const status = readyOf(p);
      const seen = readiness.get(p.metadata.name) ?? [];
      if (status && seen.at(-1)?.status !== status) seen.push({ status, at: Date.now() });
      readiness.set(p.metadata.name, seen);
    });
    stopWatch = watch.stop;
    engines = await startEnginePods({ kubeconfig: cluster.kubeconfig, startupDelayMs: STARTUP_DELAY_MS, speedup: 20 });
  });

  after(async function () {
    this.timeout(60_000);
    stopWatch?.();
    await engines?.stop();
    await cluster?.stop();
  });

  it("a Deployment of 3 model pods gets 3 engines answering /v1/models on the pod IPs, after the start-up delay", async function () {
    this.timeout(120_000);
    await api().create(`/apis/apps/v1/namespaces/${NS}/deployments`, {
      metadata: { name: "llama" },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: "llama" } },
        template: {
          metadata: { labels: { app: "llama", "model.aibrix.ai/name": MODEL, "model.aibrix.ai/port": "8000" } },
          spec: {
            containers: [
              {
                name: "vllm-openai",
                image: "vllm/vllm-openai:v0.10.1",
                command: ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                args: ["--model", "/models/llama", "--served-model-name", MODEL, "--port", "8000"].concat([
                  "--enable-lora",
                  "--max-loras",
                  "$(MAX_LORAS)",
                ]),
                env: [
                  { name: "MAX_LORAS", value: "2" },
                  { name: "VLLM_ALLOW_RUNTIME_LORA_UPDATING", value: "True" },
                ],
                resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "1" } },
              },
            ],
          },
        },
      },
    });
    const running = await waitFor("3 Running pods with IPs", 60_000, async () => {
      const list = (await pods()).filter((p) => p.status.phase === "Running" && p.status.podIP);
      return list.length === 3 ? list : undefined;
    });
    for (const p of running) expect(p.status.podIP, p.metadata.name).to.match(/^10\.244\./);

    // While starting: no engine listens yet and the launcher holds the pods not Ready.
    const starting = await waitFor("pods held not Ready", 10_000, async () => {
      const list = await pods();
      return list.filter((p) => readyOf(p) === "False").length === 3 ? list : undefined;
    });
    for (const p of starting)
      expect(await models(`http://${p.status.podIP}:8000`), p.metadata.name).to.equal(undefined);

    const up = await engines.waitForEngines(3, { timeoutMs: 30_000 });
    for (const e of up) {
      expect(e.settings).to.include({ model: MODEL, port: 8000, calibration: "a100-8b", maxLoras: 2, maxLoraRank: 16 });
      expect(await models(e.url)).to.deep.equal([MODEL]);
    }
    expect(up.map((e) => e.ip).sort()).to.deep.equal(running.map((p) => p.status.podIP).sort());

    // Judged on the watch, not a list: a list can show Ready before the watch delivers that event.
    await waitFor("3 pods Ready, as the watch saw them", 20_000, async () =>
      running.every((p) => readiness.get(p.metadata.name)?.at(-1)?.status === "True") ? true : undefined,
    );
    for (const p of running) {
      const seen = readiness.get(p.metadata.name) ?? [];
      // kwok marks a pod Ready as it starts it; the launcher turns that False at once and True when the engine listens.
      const lastTrue = seen.at(-1) as { status: string; at: number };
      const firstFalse = seen.find((s) => s.status === "False");
      expect(lastTrue.status, JSON.stringify(seen)).to.equal("True");
      expect(firstFalse, `${p.metadata.name} never seen not Ready: ${JSON.stringify(seen)}`).to.not.equal(undefined);
      // Nothing (kwok included) turned it back True during the delay: one False, then the final True.
      expect(seen.slice(seen.indexOf(firstFalse!)).map((s) => s.status)).to.deep.equal(["False", "True"]);
      const since = runningSince.get(p.metadata.name) as number;
      expect(lastTrue.at - since, `${p.metadata.name} Ready after`).to.be.at.least(STARTUP_DELAY_MS - 250);
      console.log(
        `      ${p.metadata.name}: Ready after ${lastTrue.at - since} ms (delay ${STARTUP_DELAY_MS} ms); ` +
          `kwok's early Ready lasted ${firstFalse!.at - (seen[0]?.at ?? firstFalse!.at)} ms`,
      );
    }
  });

  it("a Service selecting the pods gets an EndpointSlice with their IPs, ready", async function () {
    this.timeout(60_000);
    await api().create(`/api/v1/namespaces/${NS}/services`, {
      metadata: { name: "llama" },
      spec: { selector: { app: "llama" }, ports: [{ name: "http", port: 8000, targetPort: 8000 }] },
    });
    const ips = (await pods()).map((p) => p.status.podIP).sort();
    const addresses = await waitFor("EndpointSlice with 3 ready addresses", 30_000, async () => {
      const slices = await api().get<{ items: EndpointSlice[] }>(
        `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dllama`,
      );
      const ready = slices.items
        .flatMap((s) => s.endpoints ?? [])
        .filter((ep) => ep.conditions?.ready)
        .flatMap((ep) => ep.addresses)
        .sort();
      return ready.length === 3 ? ready : undefined;
    });
    expect(addresses).to.deep.equal(ips);
  });

  it("restartEngine drops an adapter loaded at run time, and the pod's restartCount goes up", async function () {
    this.timeout(60_000);
    const [first] = (await pods()).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const key = `${NS}/${first!.metadata.name}`;
    const engine = await engines.waitForEngine(key);
    const load = await fetch(`${engine.url}/v1/load_lora_adapter`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lora_name: "sql-lora", lora_path: "/adapters/sql-lora" }),
    });
    expect(load.status, await load.text()).to.equal(200);
    expect(await models(engine.url)).to.deep.equal([MODEL, "sql-lora"]);

    const restarted = await engines.restartEngine(key, { startupDelayMs: 500 });
    expect(restarted.starts).to.equal(2);
    expect(await models(restarted.url)).to.deep.equal([MODEL]);
    const pod = await waitFor("Ready again with restartCount 1", 20_000, async () => {
      const p = await api().get<Pod>(`/api/v1/namespaces/${NS}/pods/${first!.metadata.name}`);
      // The test's own watch must have seen it too (it can lag the read under load).
      const watched = readiness.get(first!.metadata.name)?.at(-1)?.status === "True";
      return readyOf(p) === "True" && p.status.containerStatuses?.[0]?.restartCount === 1 && watched ? p : undefined;
    });
    expect(pod.metadata.uid).to.equal(first!.metadata.uid);
    const seen = (readiness.get(first!.metadata.name) ?? []).map((s) => s.status);
    expect(seen.slice(-2), "not Ready while restarting").to.deep.equal(["False", "True"]);
  });

  it("deleting a pod stops its engine; the replacement pod gets its own", async function () {
    this.timeout(90_000);
    const [victim] = await pods();
    const key = `${NS}/${victim!.metadata.name}`;
    const url = (await engines.waitForEngine(key)).url;
    await api().delete(`/api/v1/namespaces/${NS}/pods/${victim!.metadata.name}`);
    await waitFor("the deleted pod's engine gone", 30_000, async () =>
      !engines.engines.has(key) && (await models(url)) === undefined ? true : undefined,
    );
    const replacements = await engines.waitForEngines(3, { timeoutMs: 60_000 });
    expect(replacements.map((e) => e.podKey)).to.not.include(key);
    for (const e of replacements) expect(await models(e.url)).to.deep.equal([MODEL]);
  });
});
