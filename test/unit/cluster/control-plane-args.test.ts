import { expect } from "chai";
import { apiserverArgs, controllerManagerArgs, etcdArgs, kwokArgs } from "../../../cluster/cluster.js";

const ports = { etcd: 2379, etcdPeer: 2380, apiserver: 6443, controllerManager: 10257, kwok: 10247 };
const files = {
  caFile: "/s/pki/ca.crt",
  caKeyFile: "/s/pki/ca.key",
  apiCert: "/s/pki/apiserver.crt",
  apiKey: "/s/pki/apiserver.key",
  saPub: "/s/pki/sa.pub",
  saKey: "/s/pki/sa.key",
  kubeconfig: "/s/admin.kubeconfig",
  kcmKubeconfig: "/s/kube-controller-manager.kubeconfig",
};

describe("loopback cluster: control-plane command lines", () => {
  it("binds every component to loopback on its own port, with the state directory's files", () => {
    expect(etcdArgs("/s", ports)).to.include.members([
      "--data-dir=/s/etcd",
      "--listen-client-urls=http://127.0.0.1:2379",
      "--listen-peer-urls=http://127.0.0.1:2380",
    ]);
    expect(apiserverArgs("/s", ports, files)).to.include.members([
      "--etcd-servers=http://127.0.0.1:2379",
      "--bind-address=127.0.0.1",
      "--secure-port=6443",
      "--tls-cert-file=/s/pki/apiserver.crt",
      "--client-ca-file=/s/pki/ca.crt",
      "--service-account-signing-key-file=/s/pki/sa.key",
    ]);
    expect(controllerManagerArgs("/s", ports, files)).to.include.members([
      "--kubeconfig=/s/kube-controller-manager.kubeconfig",
      "--secure-port=10257",
      "--cluster-signing-key-file=/s/pki/ca.key",
    ]);
    expect(kwokArgs(ports, files, undefined)).to.include.members([
      "--kubeconfig=/s/admin.kubeconfig",
      "--cidr=10.244.0.0/16",
      "--server-address=127.0.0.1:10247",
    ]);
    expect(kwokArgs(ports, files, "10.9.0.0/16")).to.include("--cidr=10.9.0.0/16");
  });
});
