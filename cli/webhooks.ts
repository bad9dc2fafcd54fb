import { writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { loadWebhookConfigFile, type WebhookConfigInput } from "../webhooks/config.js";
import { DEFAULT_CONFIGURATION_NAMES, DEFAULTS, startWebhooks } from "../webhooks/server.js";
import { closeOnSignal } from "./shutdown.js";
import { wholeNumberFlag } from "./flags.js";
import { reportProcessMetrics } from "./process-metrics.js";

interface WebhooksFlags {
  host: string;
  port: string;
  config?: string;
  namespace: string;
  service: string;
  secret: string;
  extraSan: string[];
  cluster: boolean;
  kubeconfig?: string;
  mutatingConfiguration: string;
  validatingConfiguration: string;
  webhookUrl?: string;
  createConfigurations: boolean;
  validationFailurePolicy: "Fail" | "Ignore";
  gpuScheduler?: string;
  gpuResource?: string[];
  sidecarImage?: string;
  sidecarPort?: string;
  leafLifetime: string;
  writeCa?: string;
  logLevel: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerWebhooks(program: Command): void {
  program
    .command("webhooks")
    .description("admission webhooks: inject the runtime sidecar and GPU scheduler, validate custom resources (HTTPS)")
    .option("--host <addr>", "listen address", DEFAULTS.host)
    .option("--port <n>", "HTTPS port (0 = any free port)", String(DEFAULTS.port))
    .option("--config <file>", "YAML/JSON: sidecar image/port/probes/env/resources, gpuSchedulerName, gpuResourceNames")
    .option("--namespace <ns>", "namespace of the webhook Service and certificate Secret", DEFAULTS.namespace)
    .option("--service <name>", "webhook Service name (certificate DNS names)", DEFAULTS.service)
    .option("--secret <name>", "Secret holding the CA and serving certificate", DEFAULTS.secretName)
    .option("--extra-san <name>", "extra DNS name or IP in the certificate (repeatable)", collect, [
      ...DEFAULTS.extraNames,
    ])
    .option("--no-cluster", "run without an API server: certificate in memory, no caBundle publishing, no lookups")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    .option(
      "--mutating-configuration <name>",
      "MutatingWebhookConfiguration to keep caBundle in",
      DEFAULT_CONFIGURATION_NAMES.mutating,
    )
    .option(
      "--validating-configuration <name>",
      "ValidatingWebhookConfiguration to keep caBundle in",
      DEFAULT_CONFIGURATION_NAMES.validating,
    )
    .option(
      "--webhook-url <url>",
      "out-of-cluster: API server calls this base URL (clientConfig.url) instead of the Service",
    )
    .option("--create-configurations", "create the webhook configurations when they do not exist", false)
    .addOption(
      new Option("--validation-failure-policy <policy>", "failurePolicy of created validating webhooks")
        .choices(["Fail", "Ignore"])
        .default("Fail"),
    )
    .option(
      "--gpu-scheduler <name>",
      "point GPU model pods that name no scheduler at this profile (only where it is deployed; default: no switch)",
    )
    .option("--gpu-resource <name>", "resource name that means a GPU (repeatable)", collect)
    .option("--sidecar-image <image>", "runtime sidecar image")
    .option("--sidecar-port <n>", "runtime sidecar port")
    .option(
      "--leaf-lifetime <seconds>",
      "serving certificate lifetime (renewed with a third left)",
      String(DEFAULTS.leafLifetimeSeconds),
    )
    .option("--write-ca <file>", "write the CA bundle (PEM) here once serving")
    .option("--log-level <level>", "pino log level", "info")
    .action(async (flags: WebhooksFlags) => {
      const fileConfig: WebhookConfigInput = flags.config ? loadWebhookConfigFile(flags.config) : {};
      const flagConfig: WebhookConfigInput = {
        gpuSchedulerName: flags.gpuScheduler,
        gpuResourceNames: flags.gpuResource,
        sidecar: {
          image: flags.sidecarImage,
          port: flags.sidecarPort === undefined ? undefined : wholeNumberFlag("sidecar-port", flags.sidecarPort),
        },
      };
      const server = await startWebhooks({
        host: flags.host,
        port: wholeNumberFlag("port", flags.port),
        config: {
          ...fileConfig,
          ...dropUndefined(flagConfig),
          sidecar: { ...fileConfig.sidecar, ...dropUndefined(flagConfig.sidecar ?? {}) },
        },
        certificates: {
          namespace: flags.namespace,
          service: flags.service,
          secretName: flags.secret,
          extraNames: flags.extraSan,
          leafLifetimeSeconds: wholeNumberFlag("leaf-lifetime", flags.leafLifetime),
        },
        kube: flags.cluster
          ? {
              kubeConfig: flags.kubeconfig ?? "",
              mutatingConfiguration: flags.mutatingConfiguration,
              validatingConfiguration: flags.validatingConfiguration,
              webhookUrl: flags.webhookUrl,
              createConfigurations: flags.createConfigurations,
              validationFailurePolicy: flags.validationFailurePolicy,
            }
          : undefined,
        logLevel: flags.logLevel,
      });
      if (flags.writeCa) writeFileSync(flags.writeCa, server.caBundle);
      reportProcessMetrics(server.metrics.registry);
      closeOnSignal(() => server.close());
    });
}

function dropUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
