import * as k8s from "@kubernetes/client-node";

/**
 * Kubeconfig for every deployable: an explicit file wins, then $KUBECONFIG, then in-cluster service account,
 * then ~/.kube/config. One rule everywhere so a component never talks to a different cluster than its neighbours.
 */
export function loadKubeConfig(file?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBECONFIG) kc.loadFromFile(process.env.KUBECONFIG);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
