// The scheduler-throughput benchmark's reference extender: it decides nothing. Filter passes every node it is sent,
// prioritize gives no scores, bind posts the Binding and answers. What kube-scheduler pays for an HTTP extender at
// all (encoding, decoding, connections, a bind answered from another process) then shows apart from what our
// extender's decisions add on top.
//   node --import tsx bench/scheduler-throughput/noop-extender.ts <port> <kubeconfig>
import http from "node:http";
import * as k8s from "@kubernetes/client-node";
import { KubeClient } from "../../kube/request.js";
import { readBody } from "../../serving/body.js";

const [port, kubeconfig] = process.argv.slice(2);
if (!port || !kubeconfig) {
  console.error("usage: noop-extender.ts <port> <kubeconfig>");
  process.exit(2);
}
const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const api = new KubeClient(kc);

/** kube-scheduler sends at most a few thousand node names and one pod: far below this. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

interface BindArgs {
  PodName: string;
  PodNamespace: string;
  PodUID: string;
  Node: string;
}

async function answer(verb: string, body: string): Promise<string> {
  if (verb === "filter") {
    const names = (JSON.parse(body) as { NodeNames?: string[] | null }).NodeNames ?? [];
    const result = { Nodes: null, NodeNames: names, FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: "" };
    return JSON.stringify(result);
  }
  if (verb === "prioritize") {
    JSON.parse(body);
    return "[]";
  }
  const a = JSON.parse(body) as BindArgs;
  const binding = {
    apiVersion: "v1",
    kind: "Binding",
    metadata: { name: a.PodName, namespace: a.PodNamespace, uid: a.PodUID },
    target: { apiVersion: "v1", kind: "Node", name: a.Node },
  };
  try {
    await api.create(`/api/v1/namespaces/${a.PodNamespace}/pods/${a.PodName}/binding`, binding);
    return JSON.stringify({ Error: "" });
  } catch (err) {
    return JSON.stringify({ Error: err instanceof Error ? err.message : String(err) });
  }
}

const server = http.createServer((req, res) => {
  const verb = /^\/scheduler\/(filter|prioritize|bind)$/.exec(req.url ?? "")?.[1];
  if (req.method === "GET" && req.url === "/readyz") return void res.end("ok");
  if (req.method !== "POST" || !verb) {
    res.writeHead(404);
    return void res.end();
  }
  readBody(req, MAX_BODY_BYTES)
    .then((body) => answer(verb, body.toString("utf8")))
    .then(
      (json) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(json);
      },
      (err: unknown) => {
        res.writeHead(400);
        res.end(err instanceof Error ? err.message : String(err));
      },
    );
});
server.listen(Number(port), "127.0.0.1");
