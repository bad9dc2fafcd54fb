// AdmissionReview bodies as the API server sends them: engine pods from a Deployment's ReplicaSet, and the custom
// resources of the valid fixtures (one in four made invalid, so denials are exercised too).
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));

export type Req = { method: "GET" | "POST"; path: string; body?: string };

export function review(uid: number, object: Record<string, unknown>, operation = "CREATE"): string {
  const [group, version] = String(object.apiVersion).includes("/")
    ? String(object.apiVersion).split("/")
    : ["", String(object.apiVersion)];
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `00000000-0000-4000-8000-${String(uid).padStart(12, "0")}`,
      kind: { group, version, kind: object.kind },
      resource: { group, version, resource: "x" },
      operation,
      namespace: "default",
      name: (object.metadata as { name?: string }).name ?? "",
      object,
      oldObject: null,
      userInfo: {
        username: "system:serviceaccount:kube-system:replicaset-controller",
        groups: ["system:serviceaccounts"],
      },
      dryRun: false,
    },
  });
}

/** A pod as a ReplicaSet creates it from an engine Deployment (defaulted fields included, about 3 KB of JSON). */
export function enginePod(i: number): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `llama-3-8b-7c9d8f-`,
      namespace: "default",
      labels: {
        "model.aibrix.ai/name": "llama-3-8b",
        "model.aibrix.ai/port": "8000",
        "pod-template-hash": "7c9d8f",
        app: "llama",
      },
      annotations: {
        "model.aibrix.ai/sidecar-injection": "true",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "llama-3-8b-7c9d8f",
          uid: "1b6c",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      schedulerName: "default-scheduler",
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccountName: "default",
      securityContext: {},
      containers: [
        {
          name: "vllm-openai",
          image: "vllm/vllm-openai:v0.8.5",
          command: ["python3", "-m", "vllm.entrypoints.openai.api_server"],
          args: [
            "--host",
            "0.0.0.0",
            "--port",
            "8000",
            "--model",
            "meta-llama/Meta-Llama-3-8B-Instruct",
            "--served-model-name",
            "llama-3-8b",
            "--enable-lora",
            `--seed=${i}`,
          ],
          ports: [{ containerPort: 8000, protocol: "TCP" }],
          env: [
            { name: "VLLM_ALLOW_RUNTIME_LORA_UPDATING", value: "True" },
            { name: "HF_HOME", value: "/models" },
          ],
          resources: {
            limits: { "nvidia.com/gpu": "1", cpu: "8", memory: "32Gi" },
            requests: { "nvidia.com/gpu": "1", cpu: "4", memory: "16Gi" },
          },
          volumeMounts: [
            { name: "models", mountPath: "/models" },
            { name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
          ],
          livenessProbe: {
            httpGet: { path: "/health", port: 8000, scheme: "HTTP" },
            periodSeconds: 10,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          readinessProbe: {
            httpGet: { path: "/health", port: 8000, scheme: "HTTP" },
            periodSeconds: 5,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          terminationMessagePath: "/dev/termination-log",
          terminationMessagePolicy: "File",
          imagePullPolicy: "IfNotPresent",
        },
      ],
      volumes: [
        { name: "models", hostPath: { path: "/mnt/models", type: "DirectoryOrCreate" } },
        {
          name: "kube-api-access",
          projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }] },
        },
      ],
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    },
  };
}

export function crRequests(): Req[] {
  const dir = path.join(here, "..", "..", "test", "fixtures", "manifests", "valid");
  const docs: Record<string, unknown>[] = [];
  for (const file of ["model-adapters.yaml", "pod-autoscalers.yaml", "ray-cluster-fleet.yaml", "kvcaches.yaml"]) {
    for (const d of parseAllDocuments(readFileSync(path.join(dir, file), "utf8")))
      docs.push(d.toJSON() as Record<string, unknown>);
  }
  // One in four is invalid, so the denial path (problem formatting) is measured too.
  const invalid = docs.map((d) => {
    const copy = structuredClone(d) as { spec: Record<string, unknown> };
    copy.spec.replicas = -3;
    copy.spec.maxReplicas = 0;
    return copy as unknown as Record<string, unknown>;
  });
  const all = [...docs, ...docs, ...docs, ...invalid];
  return all.map((d, i) => ({ method: "POST", path: "/validate", body: review(i, d) }));
}
