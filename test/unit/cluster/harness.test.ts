import { expect } from "chai";
import { X509Certificate, createPublicKey, createPrivateKey, sign, verify } from "node:crypto";
import { parse } from "yaml";
import { CertificateAuthority } from "../../../cluster/certs.js";
import { DEFAULT_NODE_GROUPS_FILE, loadNodeGroups, nodeObjects, parseNodeGroups } from "../../../cluster/nodes.js";
import { schedulerConfig, schedulerConfigYaml } from "../../../cluster/scheduler-config.js";
import { freePort, isRunning, spawnLogged, stopProcess, waitHealthy } from "../../../cluster/processes.js";
import { ensureBinaries } from "../../../cluster/binaries.js";
import { clusterStatus, stopCluster } from "../../../cluster/cluster.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

describe("cluster harness: fake nodes", () => {
  it("the default fixture is the heterogeneous GPU fleet (2×8 H100, 4×8 A100, 8×4 L4, 4×1 A10G) plus CPU nodes", () => {
    const nodes = nodeObjects(loadNodeGroups(DEFAULT_NODE_GROUPS_FILE)) as {
      metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
      status: { capacity: Record<string, string>; allocatable: Record<string, string> };
    }[];
    const gpusByProduct = new Map<string, number>();
    for (const n of nodes) {
      const product = n.metadata.labels["nvidia.com/gpu.product"];
      if (product)
        gpusByProduct.set(product, (gpusByProduct.get(product) ?? 0) + Number(n.status.capacity["nvidia.com/gpu"]));
      expect(n.metadata.annotations["kwok.x-k8s.io/node"]).to.equal("fake");
      expect(n.status.allocatable).to.deep.equal(n.status.capacity);
    }
    expect(Object.fromEntries(gpusByProduct)).to.deep.equal({
      "NVIDIA-H100-80GB-HBM3": 16,
      "NVIDIA-A100-SXM4-80GB": 32,
      "NVIDIA-L4": 32,
      "NVIDIA-A10G": 4,
    });
    expect(nodes.filter((n) => n.metadata.name.startsWith("cpu-"))).to.have.length(2);
    expect(nodes.find((n) => n.metadata.name === "cpu-0")?.status.capacity).to.not.have.property("nvidia.com/gpu");
    expect(new Set(nodes.map((n) => n.metadata.name)).size).to.equal(nodes.length);
  });

  it("refuses bad groups with the field, the value and the rule", () => {
    expect(() => parseNodeGroups("groups: {}")).to.throw(/"groups" must be a list/);
    expect(() => parseNodeGroups("groups: [{name: Bad_Name, count: 1, gpusPerNode: 0}]")).to.throw(
      /groups\[0\]\.name = "Bad_Name": must be a DNS label/,
    );
    expect(() => parseNodeGroups("groups: [{name: a, count: 0, gpusPerNode: 0}]")).to.throw(
      /groups\[0\]\.count = 0: must be an integer >= 1/,
    );
    expect(() => parseNodeGroups("groups: [{name: a, count: 1, gpusPerNode: -1}]")).to.throw(
      /gpusPerNode = -1: must be an integer >= 0/,
    );
    expect(() => parseNodeGroups("groups: [{name: a, count: 1, gpusPerNode: 2}]")).to.throw(
      /groups\[0\]\.product = undefined: required .* when gpusPerNode > 0/,
    );
  });
});

describe("cluster harness: scheduler configuration", () => {
  it("the GPU profile calls the extender for GPU pods only, with node names", () => {
    const cfg = schedulerConfig({
      kubeconfig: "/k",
      schedulerName: "aibrix-gpu-scheduler",
      extender: { urlPrefix: "http://127.0.0.1:1/scheduler", bindVerb: "bind" },
    }) as { profiles: { schedulerName: string }[]; extenders: Record<string, unknown>[]; leaderElection: unknown };
    expect(cfg.profiles).to.deep.equal([{ schedulerName: "aibrix-gpu-scheduler" }]);
    expect(cfg.leaderElection).to.deep.equal({ leaderElect: false });
    expect(cfg.extenders).to.have.length(1);
    expect(cfg.extenders[0]).to.include({
      urlPrefix: "http://127.0.0.1:1/scheduler",
      filterVerb: "filter",
      prioritizeVerb: "prioritize",
      bindVerb: "bind",
      nodeCacheCapable: true,
      enableHTTPS: false,
    });
    expect(cfg.extenders[0]?.managedResources).to.deep.equal([{ name: "nvidia.com/gpu", ignoredByScheduler: false }]);
  });

  it("the default scheduler has no extender, and the YAML round-trips", () => {
    const text = schedulerConfigYaml({ kubeconfig: "/k", schedulerName: "default-scheduler" });
    const cfg = parse(text) as Record<string, unknown>;
    expect(cfg.kind).to.equal("KubeSchedulerConfiguration");
    expect(cfg).to.not.have.property("extenders");
  });
});

describe("cluster harness: certificates", () => {
  it("issues a CA-signed serving certificate for 127.0.0.1 and a system:masters client certificate", () => {
    const ca = CertificateAuthority.create("test-ca", 1);
    const caCert = new X509Certificate(ca.pem.certPem);
    expect(caCert.ca).to.equal(true);

    const serving = ca.serving({ commonName: "kube-apiserver", ips: ["127.0.0.1"], dnsNames: ["localhost"] });
    const leaf = new X509Certificate(serving.certPem);
    expect(leaf.verify(caCert.publicKey)).to.equal(true);
    expect(leaf.checkIP("127.0.0.1")).to.equal("127.0.0.1");
    expect(leaf.checkHost("localhost")).to.equal("localhost");
    expect(leaf.checkIP("10.0.0.1")).to.equal(undefined);
    expect(leaf.ca).to.equal(false);

    const client = ca.client("admin", "system:masters");
    const clientCert = new X509Certificate(client.certPem);
    expect(clientCert.subject).to.include("CN=admin").and.include("O=system:masters");
    expect(clientCert.verify(caCert.publicKey)).to.equal(true);
    // The key matches the certificate.
    const sig = sign("sha256", Buffer.from("x"), createPrivateKey(client.keyPem));
    expect(verify("sha256", Buffer.from("x"), createPublicKey(client.certPem), sig)).to.equal(true);
  });
});

describe("cluster harness: ports", () => {
  it("hands out distinct free loopback ports", async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    for (const p of ports) expect(p).to.be.within(1024, 65535);
  });
});

describe("cluster harness: state and binaries", () => {
  it("status and down on a directory with no cluster say so instead of failing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "no-cluster-"));
    try {
      expect(await clusterStatus(dir)).to.equal(undefined);
      expect(await stopCluster(dir)).to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a binary directory override that lacks binaries is refused, naming what is missing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "no-bins-"));
    const saved = process.env.AIBRIX_TS_K8S_BIN_DIR;
    process.env.AIBRIX_TS_K8S_BIN_DIR = dir;
    try {
      const err = await ensureBinaries().then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.match(/AIBRIX_TS_K8S_BIN_DIR=.* lacks kube-apiserver, .*ray-operator/);
    } finally {
      if (saved === undefined) delete process.env.AIBRIX_TS_K8S_BIN_DIR;
      else process.env.AIBRIX_TS_K8S_BIN_DIR = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a process that exits before it is healthy fails fast with the end of its log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "proc-"));
    try {
      const proc = spawnLogged(
        "failing",
        "/bin/sh",
        ["-c", "echo 'bad flag --nope'; exit 3"],
        join(dir, "failing.log"),
      );
      const started = Date.now();
      const err = await waitHealthy(proc, "http://127.0.0.1:1/healthz", { timeoutMs: 20_000 }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.match(/failing \(pid \d+\) exited before becoming healthy/);
      expect(err?.message).to.include("bad flag --nope");
      expect(Date.now() - started).to.be.below(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stops a running process by PID, and never signals a PID that now runs something else", async () => {
    const dir = mkdtempSync(join(tmpdir(), "proc-"));
    try {
      const proc = spawnLogged("sleeper", "/bin/sleep", ["30"], join(dir, "sleeper.log"));
      expect(isRunning(proc)).to.equal(true);
      expect(isRunning({ pid: proc.pid, command: "/usr/bin/some-other-program" })).to.equal(false);
      await stopProcess(proc, 2_000);
      expect(isRunning(proc)).to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
