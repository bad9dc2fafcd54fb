// The Helm chart, checked with the real helm (built from its Go module by cluster/build.sh): lint, and what
// `helm template` renders for the default values and for out-of-cluster development.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { ensureBinaries } from "../../cluster/binaries.js";

const run = promisify(execFile);
const CHART = new URL("../../charts/aibrix-ts", import.meta.url).pathname;

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
type Webhook = {
  name: string;
  clientConfig: { url?: string; service?: { name: string; path: string }; caBundle?: string };
  rules: { resources: string[]; operations: string[] }[];
  failurePolicy: string;
  timeoutSeconds: number;
  sideEffects: string;
  namespaceSelector?: { matchExpressions: { key: string; operator: string; values: string[] }[] };
  objectSelector?: unknown;
  matchConditions?: unknown;
};

describe("e2e: Helm chart", function () {
  let helm = "";

  before(async function () {
    this.timeout(60 * 60_000); // a cold machine builds helm first
    helm = join(await ensureBinaries(), "helm");
  });

  async function template(...args: string[]): Promise<Doc[]> {
    const { stdout } = await run(helm, ["template", "demo", CHART, "--namespace", "aibrix-system", ...args], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return parseAllDocuments(stdout)
      .map((d) => d.toJS() as Doc | null)
      .filter((d): d is Doc => d !== null);
  }

  const find = (docs: Doc[], kind: string, name: string) => {
    const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
    expect(doc, `${kind}/${name} rendered`).to.not.equal(undefined);
    return doc as Doc;
  };

  it("passes helm lint (strict)", async function () {
    this.timeout(60_000);
    const { stdout } = await run(helm, ["lint", "--strict", CHART]);
    expect(stdout).to.match(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it("renders every component with a Deployment, a ServiceAccount, RBAC and a PodDisruptionBudget", async function () {
    this.timeout(60_000);
    const docs = await template("--set", "controllers.enabled=true");
    for (const component of ["webhooks", "extender", "gpu-scheduler", "controllers", "router"]) {
      const name = `demo-aibrix-ts-${component}`;
      const deployment = find(docs, "Deployment", name) as Doc & {
        spec: { template: { spec: { serviceAccountName: string } } };
      };
      expect(deployment.metadata.namespace).to.equal("aibrix-system");
      expect(deployment.spec.template.spec.serviceAccountName).to.equal(name);
      find(docs, "ServiceAccount", name);
      find(docs, "PodDisruptionBudget", name);
    }
    // CRDs ship in crds/ (helm installs them first); no template renders one.
    expect(docs.filter((d) => d.kind === "CustomResourceDefinition")).to.have.length(0);
    // No ServiceMonitor without the Prometheus Operator API.
    expect(docs.filter((d) => d.kind === "ServiceMonitor")).to.have.length(0);
  });

  it("points pods at the GPU scheduler only while the chart deploys it", async function () {
    this.timeout(60_000);
    const argsOf = (docs: Doc[]) =>
      (
        find(docs, "Deployment", "demo-aibrix-ts-webhooks") as Doc & {
          spec: { template: { spec: { containers: { args: string[] }[] } } };
        }
      ).spec.template.spec.containers[0]!.args;
    expect(argsOf(await template())).to.include("--gpu-scheduler=aibrix-gpu-scheduler");
    expect(argsOf(await template("--set", "gpuScheduler.enabled=false")).join(" ")).not.to.contain("--gpu-scheduler");
  });

  it("grants least privilege: no wildcard verbs, the webhooks touch only their own Secret and configurations", async function () {
    this.timeout(60_000);
    const docs = await template();
    for (const role of docs.filter((d) => d.kind === "ClusterRole" || d.kind === "Role")) {
      for (const rule of (role as Doc & { rules: Rule[] }).rules) {
        expect(rule.verbs, `${role.kind}/${role.metadata.name}`).to.not.include("*");
      }
    }
    const webhooksRole = find(docs, "Role", "demo-aibrix-ts-webhooks") as Doc & { rules: Rule[] };
    const secretUpdate = webhooksRole.rules.find((r) => r.verbs.includes("update"));
    expect(secretUpdate?.resourceNames).to.deep.equal(["aibrix-ts-webhook-certs"]);
    const webhooksCluster = find(docs, "ClusterRole", "demo-aibrix-ts-webhooks") as Doc & { rules: Rule[] };
    for (const rule of webhooksCluster.rules.filter((r) => r.apiGroups.includes("admissionregistration.k8s.io"))) {
      expect(rule.resourceNames).to.have.length(1);
      expect(rule.verbs).to.not.include("create");
      expect(rule.verbs).to.not.include("delete");
    }
    const router = find(docs, "ClusterRole", "demo-aibrix-ts-router") as Doc & { rules: Rule[] };
    for (const rule of router.rules) expect(rule.verbs).to.deep.equal(["get", "list", "watch"]);
    const extender = find(docs, "ClusterRole", "demo-aibrix-ts-extender") as Doc & { rules: Rule[] };
    expect(extender.rules.some((r) => r.resources.includes("pods/binding") && r.verbs.includes("create"))).to.equal(
      true,
    );
    expect(extender.rules.some((r) => r.resources.includes("secrets"))).to.equal(false);
    const diagnostics = find(docs, "ClusterRole", "demo-aibrix-ts-diagnostics") as Doc & { rules: Rule[] };
    expect(diagnostics.rules).to.deep.equal([
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
      { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
    ]);
  });

  it("the diagnostics DaemonSet runs on GPU nodes, tolerates its own taint and asks for no GPU", async function () {
    this.timeout(60_000);
    type Container = { args: string[]; env: { name: string }[]; resources: { limits?: Record<string, string> } };
    const ds = find(await template(), "DaemonSet", "demo-aibrix-ts-diagnostics") as Doc & {
      spec: {
        template: {
          spec: { nodeSelector: Record<string, string>; tolerations: object[]; containers: Container[] };
        };
      };
    };
    const pod = ds.spec.template.spec;
    expect(pod.nodeSelector).to.deep.equal({ "nvidia.com/gpu.present": "true" });
    expect(pod.tolerations).to.deep.equal([{ operator: "Exists" }]);
    expect(pod.containers[0]?.args.slice(0, 2)).to.deep.equal(["diagnose", "--interval=5"]);
    expect(pod.containers[0]?.env.map((e) => e.name)).to.include("NODE_NAME");
    expect(pod.containers[0]?.resources.limits).to.not.have.property("nvidia.com/gpu");
  });

  it("webhook configurations: Service clients, exclusions, object selectors, failure policies and timeouts", async function () {
    this.timeout(60_000);
    const docs = await template();
    const mutating = find(docs, "MutatingWebhookConfiguration", "demo-aibrix-ts-webhooks-mutating") as Doc & {
      webhooks: Webhook[];
    };
    const validating = find(docs, "ValidatingWebhookConfiguration", "demo-aibrix-ts-webhooks-validating") as Doc & {
      webhooks: Webhook[];
    };
    expect(mutating.webhooks.map((w) => w.clientConfig.service?.path)).to.include.members([
      "/mutate-v1-pod",
      "/mutate-apps-v1-deployment",
      "/mutate-model-aibrix-ai-v1alpha1-modeladapter",
    ]);
    expect(validating.webhooks.map((w) => w.clientConfig.service?.path)).to.have.members([
      "/validate-model-aibrix-ai-v1alpha1-modeladapter",
      "/validate-autoscaling-aibrix-ai-v1alpha1-podautoscaler",
      "/validate-orchestration-aibrix-ai-v1alpha1-rayclusterfleet",
      "/validate-orchestration-aibrix-ai-v1alpha1-rayclusterreplicaset",
      "/validate-orchestration-aibrix-ai-v1alpha1-kvcache",
    ]);
    for (const w of mutating.webhooks) {
      expect(w.failurePolicy, w.name).to.equal("Ignore");
      expect(w.sideEffects).to.equal("None");
      expect(w.timeoutSeconds).to.be.within(1, 10);
    }
    for (const w of validating.webhooks) expect(w.failurePolicy, w.name).to.equal("Fail");
    const pods = mutating.webhooks.find((w) => w.rules[0]?.resources.includes("pods"));
    expect(pods?.rules[0]?.operations).to.deep.equal(["CREATE"]);
    expect(pods?.namespaceSelector?.matchExpressions[0]?.values).to.include.members([
      "kube-system",
      "kube-node-lease",
      "aibrix-system",
    ]);
    expect(pods?.objectSelector).to.deep.equal({
      matchExpressions: [{ key: "model.aibrix.ai/name", operator: "Exists" }],
    });
    const deployments = mutating.webhooks.find((w) => w.rules[0]?.resources.includes("deployments"));
    expect(deployments?.objectSelector).to.equal(undefined);
    expect(JSON.stringify(deployments?.matchConditions)).to.contain("model.aibrix.ai/sidecar-injection");
  });

  it("the GPU scheduler's configuration has one profile (the reference one) and calls the extender Service", async function () {
    this.timeout(60_000);
    const docs = await template();
    const cm = find(docs, "ConfigMap", "demo-aibrix-ts-gpu-scheduler") as Doc & { data: Record<string, string> };
    const cfg = parseAllDocuments(cm.data["config.yaml"] ?? "")[0]?.toJS() as {
      kind: string;
      profiles: { schedulerName: string; pluginConfig?: { name: string }[] }[];
      extenders: {
        urlPrefix: string;
        filterVerb: string;
        bindVerb: string;
        preemptVerb: string;
        weight: number;
        nodeCacheCapable: boolean;
        managedResources: unknown;
      }[];
      leaderElection: { leaderElect: boolean; resourceNamespace: string };
    };
    expect(cfg.kind).to.equal("KubeSchedulerConfiguration");
    expect(cfg.profiles.map((p) => p.schedulerName)).to.deep.equal(["aibrix-gpu-scheduler"]);
    expect(cfg.extenders).to.have.length(1);
    expect(cfg.extenders[0]?.urlPrefix).to.equal("http://demo-aibrix-ts-extender.aibrix-system.svc:8090/scheduler");
    expect(cfg.extenders[0]).to.include({ filterVerb: "filter", bindVerb: "bind", preemptVerb: "preempt", weight: 5 });
    // The reference configuration's profile (files/kube-scheduler-config.yaml) brings its plugin configuration.
    expect(cfg.profiles[0]?.pluginConfig?.map((p) => p.name)).to.include("NodeResourcesFit");
    expect(cfg.extenders[0]?.nodeCacheCapable).to.equal(true);
    expect(cfg.leaderElection).to.include({ leaderElect: true, resourceNamespace: "aibrix-system" });
  });

  it("development values point kube-apiserver and the scheduler at the host and drop those Deployments", async function () {
    this.timeout(60_000);
    const ca = Buffer.from("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n").toString("base64");
    const docs = await template(
      "--set",
      "development.enabled=true",
      "--set",
      "development.webhookUrl=https://127.0.0.1:9443",
      "--set",
      `development.webhookCaBundle=${ca}`,
      "--set",
      "development.extenderUrl=http://127.0.0.1:8090/scheduler",
    );
    expect(docs.some((d) => d.kind === "Deployment" && d.metadata.name === "demo-aibrix-ts-webhooks")).to.equal(false);
    expect(docs.some((d) => d.kind === "Deployment" && d.metadata.name === "demo-aibrix-ts-extender")).to.equal(false);
    const mutating = find(docs, "MutatingWebhookConfiguration", "demo-aibrix-ts-webhooks-mutating") as Doc & {
      webhooks: Webhook[];
    };
    for (const w of mutating.webhooks) {
      expect(w.clientConfig.url).to.match(/^https:\/\/127\.0\.0\.1:9443\/mutate-/);
      expect(w.clientConfig.service).to.equal(undefined);
      expect(w.clientConfig.caBundle).to.equal(ca);
    }
    const cm = find(docs, "ConfigMap", "demo-aibrix-ts-gpu-scheduler") as Doc & { data: Record<string, string> };
    expect(cm.data["config.yaml"]).to.include("urlPrefix: http://127.0.0.1:8090/scheduler");
  });

  it("runs the controllers by default, leader-elected, with one least-privilege ClusterRole per controller", async function () {
    this.timeout(60_000);
    const docs = await template();
    const deployment = find(docs, "Deployment", "demo-aibrix-ts-controllers") as Doc & {
      spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } };
    };
    expect(deployment.spec.replicas).to.equal(2);
    expect(deployment.spec.template.spec.containers[0]!.args).to.include.members(["controllers", "--controllers=*"]);
    const role = find(docs, "ClusterRole", "demo-aibrix-ts-controllers-model-adapter") as Doc & {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    const secrets = role.rules.find((r) => r.resources.includes("secrets"));
    expect(secrets?.verbs, "Secrets are only read, never listed").to.deep.equal(["get"]);
    expect(role.rules.flatMap((r) => r.resources)).to.not.include("nodes");
    const autoscaler = find(docs, "ClusterRole", "demo-aibrix-ts-controllers-pod-autoscaler") as typeof role;
    const writes = autoscaler.rules.filter((r) => r.verbs.some((v) => ["create", "update", "patch"].includes(v)));
    expect(writes.flatMap((r) => r.resources).sort(), "the autoscaler writes only these").to.deep.equal([
      "*/scale",
      "events",
      "horizontalpodautoscalers",
      "podautoscalers/status",
    ]);
    const kvcache = find(docs, "ClusterRole", "demo-aibrix-ts-controllers-kvcache") as typeof role;
    // It grants its watchers a Role over pods, so it must hold that itself; it never lists Secrets.
    expect(kvcache.rules.find((r) => r.resources.includes("pods"))?.verbs).to.include.members(["get", "list", "watch"]);
    expect(kvcache.rules.find((r) => r.resources.includes("secrets"))?.verbs).to.deep.equal(["get"]);
    expect(deployment.spec.template.spec.containers[0]!.args).to.include(
      "--kvcache-watcher-image=aibrix-ts/aibrix-ts:0.1.0",
    );
    const off = await template("--set", "controllers.disabled={model-adapter}");
    const args = (find(off, "Deployment", "demo-aibrix-ts-controllers") as typeof deployment).spec.template.spec
      .containers[0]!.args;
    expect(args).to.include("--controllers=*,-model-adapter");
    expect(off.filter((d) => d.metadata?.name === "demo-aibrix-ts-controllers-model-adapter")).to.have.length(0);
  });

  it("gives the fleet controllers their own roles: only the replica-set controller writes RayClusters", async function () {
    this.timeout(60_000);
    type Role = Doc & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const docs = await template();
    const verbsOn = (role: Role, resource: string) =>
      role.rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs);
    const fleet = find(docs, "ClusterRole", "demo-aibrix-ts-controllers-raycluster-fleet") as Role;
    const replicaSet = find(docs, "ClusterRole", "demo-aibrix-ts-controllers-raycluster-replicaset") as Role;
    expect(verbsOn(fleet, "rayclusters")).to.deep.equal(["get", "list", "watch"]);
    expect(verbsOn(fleet, "rayclusterreplicasets")).to.include.members(["create", "delete"]);
    expect(verbsOn(replicaSet, "rayclusters")).to.include.members(["create", "delete"]);
    expect(verbsOn(replicaSet, "rayclusterreplicasets/finalizers")).to.include("update");
    const off = await template("--set", "controllers.disabled={raycluster-fleet,raycluster-replicaset}");
    expect(off.filter((d) => d.metadata?.name?.includes("raycluster"))).to.have.length(0);
  });

  it("refuses development mode without the URLs, naming the missing value", async function () {
    this.timeout(60_000);
    const err = await template("--set", "development.enabled=true").then(
      () => undefined,
      (e: Error & { stderr?: string }) => e,
    );
    expect(err?.stderr ?? "").to.match(/development\.(webhookUrl|extenderUrl) is required/);
  });

  it("runs the router as several processes on its port only when router.workers asks for more than one", async function () {
    this.timeout(60_000);
    type Pod = { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    const args = (docs: Doc[]) =>
      (find(docs, "Deployment", "demo-aibrix-ts-router") as Doc & Pod).spec.template.spec.containers[0]!.args;
    expect(args(await template()).filter((a) => a.startsWith("--workers"))).to.deep.equal([]);
    expect(args(await template("--set", "router.workers=3"))).to.include("--workers=3");
  });

  it("mounts each model's tokenizer in the router and names it in a --tokenizer flag", async function () {
    this.timeout(60_000);
    const docs = await template(
      ...["--set", "router.tokenizers[0].model=llama-3-8b", "--set", "router.tokenizers[0].configMap=llama-tok"],
      ...["--set", "router.tokenizers[1].model=qwen", "--set", "router.tokenizers[1].subPath=qwen"],
      ...["--set", "router.tokenizers[1].volume.persistentVolumeClaim.claimName=files"],
    );
    type PodSpec = {
      containers: { args: string[]; volumeMounts: { name: string; mountPath: string; subPath?: string }[] }[];
      volumes: Record<string, unknown>[];
    };
    const pod = (find(docs, "Deployment", "demo-aibrix-ts-router") as Doc & { spec: { template: { spec: PodSpec } } })
      .spec.template.spec;
    const router = pod.containers[0]!;
    expect(router.args).to.include.members([
      "--tokenizer=llama-3-8b=/etc/aibrix-ts/tokenizers/0",
      "--tokenizer=qwen=/etc/aibrix-ts/tokenizers/1",
    ]);
    expect(router.volumeMounts).to.deep.include({
      name: "tokenizer-1",
      mountPath: "/etc/aibrix-ts/tokenizers/1",
      readOnly: true,
      subPath: "qwen",
    });
    expect(pod.volumes).to.deep.equal([
      { name: "tokenizer-0", configMap: { name: "llama-tok" } },
      { name: "tokenizer-1", persistentVolumeClaim: { claimName: "files" } },
    ]);
    const err = await template("--set", "router.tokenizers[0].model=x").then(
      () => undefined,
      (e: Error & { stderr?: string }) => e,
    );
    expect(err?.stderr ?? "").to.match(/router\.tokenizers\[0\]: set exactly one of configMap or volume/);
  });

  it("renders ServiceMonitors when the Prometheus Operator API is present", async function () {
    this.timeout(60_000);
    const docs = await template("--api-versions", "monitoring.coreos.com/v1", "--set", "controllers.enabled=true");
    const monitors = docs.filter((d) => d.kind === "ServiceMonitor").map((d) => d.metadata.name);
    expect(monitors).to.have.members([
      "demo-aibrix-ts-webhooks",
      "demo-aibrix-ts-extender",
      "demo-aibrix-ts-controllers",
      "demo-aibrix-ts-router",
    ]);
  });
  it("renders the GPU optimizer only when enabled, under upstream's Service name, scraping every router replica", async function () {
    this.timeout(60_000);
    const off = await template();
    expect(off.filter((d) => d.metadata.name === "demo-aibrix-ts-optimizer")).to.have.length(0);
    const docs = await template("--set", "optimizer.enabled=true");
    const service = find(docs, "Service", "aibrix-gpu-optimizer") as Doc & { spec: { ports: { port: number }[] } };
    expect(service.spec.ports[0]!.port).to.equal(8080);
    const headless = find(docs, "Service", "demo-aibrix-ts-router-replicas") as Doc & { spec: { clusterIP: string } };
    expect(headless.spec.clusterIP).to.equal("None");
    const deployment = find(docs, "Deployment", "demo-aibrix-ts-optimizer") as Doc & {
      spec: { template: { spec: { containers: { args: string[] }[] } } };
    };
    const args = deployment.spec.template.spec.containers[0]!.args;
    expect(args).to.include("--profiles-configmap=aibrix-system/aibrix-gpu-profiles");
    expect(args).to.include("--router-url=http://demo-aibrix-ts-router-replicas.aibrix-system.svc:8888");
    const role = find(docs, "Role", "demo-aibrix-ts-optimizer") as Doc & { rules: Rule[] };
    expect(role.rules[0]!.resourceNames).to.deep.equal(["aibrix-gpu-profiles", "aibrix-gpu-optimizer-recommendations"]);
    const withRedis = await template(
      "--set",
      "optimizer.enabled=true",
      "--set",
      "optimizer.redisUrl=redis://redis:6379",
    );
    const redisArgs = (find(withRedis, "Deployment", "demo-aibrix-ts-optimizer") as typeof deployment).spec.template
      .spec.containers[0]!.args;
    expect(redisArgs).to.include("--redis-url=redis://redis:6379");
    expect(withRedis.filter((d) => d.metadata.name === "demo-aibrix-ts-router-replicas")).to.have.length(0);
  });
});
