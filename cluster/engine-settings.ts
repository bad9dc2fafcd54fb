// What engine a model pod would run, read from the pod the way vLLM and the kubelet would: the model from the
// `model.aibrix.ai/name` label (or `--served-model-name`), the port, LoRA and engine limits from the container's vLLM
// command line (with `$(VAR)` expanded from the container's env, as the kubelet does), and the simulator calibration
// from the node's GPU product label. Pure functions: the engine-pod launcher and its unit tests share them.
import { Model, ModelDefaults, Scheduling } from "../api/labels.js";
import { calibrations, DEFAULT_CALIBRATION } from "../simulator/calibrations.js";

/** The parts of a v1 Pod this module reads. */
export interface PodLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { nodeName?: string; containers?: ContainerLike[] };
}

export interface ContainerLike {
  name?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { containerPort: number; name?: string }[];
}

export interface EngineSettings {
  /** Served model name (what `model` in requests must say). */
  model: string;
  port: number;
  /** Simulator engine calibration, e.g. "a100-8b". */
  calibration: string;
  /** Why this calibration (the GPU product it matched, or why the default was used). */
  calibrationReason: string;
  /** GPU LoRA slots: 0 when LoRA is off. Undefined: the calibration's default (no vLLM command line was found). */
  maxLoras?: number;
  /** `--max-lora-rank` (vLLM's default 16 when LoRA is on). Reported only: simulated adapters carry no rank. */
  maxLoraRank?: number;
  /** `--lora-modules name=path`: adapters loaded at start. */
  adapters: string[];
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  blockSize?: number;
  /** Whether a vLLM command line was found in the pod (else calibration defaults apply). */
  fromCommandLine: boolean;
}

/** vLLM's defaults for the LoRA flags when `--enable-lora` is given. */
const VLLM_LORA_DEFAULTS = { maxLoras: 1, maxLoraRank: 16 } as const;
/** `--max-lora-rank` values vLLM accepts. */
const VLLM_LORA_RANKS = [1, 8, 16, 32, 64, 128, 256, 320, 512];

/**
 * GPU products whose closest simulator calibration is another GPU type's (same generation and memory class):
 * calibrations exist for H100, A100, L40S, A10G and L4.
 */
const GPU_ALIASES: Record<string, string> = {
  H200: "H100",
  H800: "H100",
  GH200: "H100",
  H20: "H100",
  A800: "A100",
  A10: "A10G",
  L40: "L40S",
};

/** Kubernetes' `$(VAR)` expansion in command and args: known variables expand, `$$` escapes, others stay as is. */
export function expandEnvReferences(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === "$$") return "$";
    return name !== undefined && name in env ? (env[name] as string) : whole;
  });
}

/** Splits a shell command line into words (quotes and backslashes as sh does; no expansion). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c) || c === ";" || c === "&" || c === "|") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

const isVllmWord = (w: string) =>
  w === "vllm" || w.endsWith("/vllm") || w.startsWith("vllm.entrypoints") || w === "vllm.entrypoints.openai.api_server";

/**
 * The vLLM argument list of a container: the words after `vllm serve` / `-m vllm.entrypoints.openai.api_server`,
 * whether they come as separate command/args items or inside an `sh -c "..."` string. Undefined when the container
 * does not run vLLM.
 */
export function vllmArguments(container: ContainerLike): string[] | undefined {
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? ""]));
  const items = [...(container.command ?? []), ...(container.args ?? [])].map((s) => expandEnvReferences(s, env));
  // The script of `sh -c` / `bash -ec` is split as the shell would; any other item is one word, spaces and all.
  const words = items.flatMap((item, i) =>
    i > 0 && /^-[a-z]*c$/.test(items[i - 1] as string) ? shellWords(item) : [item],
  );
  const at = words.findIndex(isVllmWord);
  if (at < 0) return undefined;
  let rest = words.slice(at + 1);
  if (words[at] === "vllm" || words[at]?.endsWith("/vllm")) {
    if (rest[0] === "serve") rest = rest.slice(1);
  }
  return rest;
}

/** Parsed flags: `--name value`, `--name=value`, bare `--flag`; a leading positional is vLLM's model. */
export function parseFlags(args: string[]): { flags: Map<string, string[]>; positional: string[] } {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  const add = (name: string, value: string) => flags.set(name, [...(flags.get(name) ?? []), value]);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    if (eq > 0) {
      add(a.slice(2, eq), a.slice(eq + 1));
      continue;
    }
    const values: string[] = [];
    // Flags that take lists (--served-model-name a b, --lora-modules x=1 y=2) take every word up to the next flag.
    while (i + 1 < args.length && !(args[i + 1] as string).startsWith("--")) values.push(args[++i] as string);
    if (values.length === 0) add(a.slice(2), "");
    else for (const v of values) add(a.slice(2), v);
  }
  return { flags, positional };
}

function intFlag(flags: Map<string, string[]>, name: string, where: string, min: number): number | undefined {
  const raw = flags.get(name)?.at(-1);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${where}: --${name} ${JSON.stringify(raw)} must be an integer >= ${min}`);
  }
  return n;
}

/** `--lora-modules` entries: `name=path` or vLLM's JSON form `{"name": ..., "path": ...}`. */
function loraModuleNames(values: string[], where: string): string[] {
  return values.map((v) => {
    if (v.trim().startsWith("{")) {
      let name: unknown;
      try {
        name = (JSON.parse(v) as { name?: unknown }).name;
      } catch {
        throw new Error(`${where}: --lora-modules ${v}: not valid JSON`);
      }
      if (typeof name !== "string" || !name) throw new Error(`${where}: --lora-modules ${v}: JSON needs a "name"`);
      return name;
    }
    const eq = v.indexOf("=");
    if (eq <= 0) throw new Error(`${where}: --lora-modules ${JSON.stringify(v)} must be name=path`);
    return v.slice(0, eq);
  });
}

/** The GPU type of a `nvidia.com/gpu.product` value, by word ("NVIDIA-A100-SXM4-80GB" → A100), or undefined. */
export function gpuTypeOfProduct(product: string): string | undefined {
  const known = new Set([...calibrations().values()].map((p) => p.gpuType.toUpperCase()));
  for (const word of product.toUpperCase().split(/[-_\s]+/)) {
    if (known.has(word)) return word;
    const alias = GPU_ALIASES[word];
    if (alias && known.has(alias)) return alias;
  }
  return undefined;
}

/**
 * The simulator calibration for a model on a GPU product: that GPU type's calibration for the model's size when the model
 * name says one ("qwen-32b" → h100-32b), else its 8B calibration; the default calibration when the product is unknown.
 */
export function calibrationFor(product: string | undefined, model: string): { calibration: string; reason: string } {
  if (!product) return { calibration: DEFAULT_CALIBRATION, reason: `no ${Scheduling.gpuProductLabel} on the node` };
  const gpu = gpuTypeOfProduct(product);
  if (!gpu) return { calibration: DEFAULT_CALIBRATION, reason: `no calibration for GPU product ${product}` };
  const ofGpu = [...calibrations().values()].filter((p) => p.gpuType.toUpperCase() === gpu);
  const size = /(?:^|[^0-9.])(\d+(?:\.\d+)?)b(?![a-z])/i.exec(model)?.[1];
  const sized = size ? ofGpu.find((p) => p.name.endsWith(`-${size}b`)) : undefined;
  const chosen = sized ?? ofGpu.find((p) => p.name.endsWith("-8b")) ?? ofGpu[0];
  if (!chosen) return { calibration: DEFAULT_CALIBRATION, reason: `no calibration for GPU type ${gpu}` };
  return { calibration: chosen.name, reason: `${product} → ${gpu}${sized ? `, ${size}B model` : ""}` };
}

/** The container that serves the model: the one running vLLM, else the first. */
export function engineContainer(pod: PodLike): ContainerLike | undefined {
  const containers = pod.spec?.containers ?? [];
  return containers.find((c) => vllmArguments(c) !== undefined) ?? containers[0];
}

/**
 * Engine settings of a model pod on a node with GPU product `product`. Throws, naming the pod and the flag, when the
 * command line asks for something vLLM would refuse.
 */
export function engineSettings(pod: PodLike, product: string | undefined): EngineSettings {
  const where = `pod ${pod.metadata?.namespace ?? "default"}/${pod.metadata?.name ?? "?"}`;
  const labels = pod.metadata?.labels ?? {};
  const label = labels[Model.name];
  if (!label) throw new Error(`${where}: label ${Model.name} is required for an engine pod`);
  const container = engineContainer(pod);
  const args = container ? vllmArguments(container) : undefined;
  const { flags } = parseFlags(args ?? []);
  const model = flags.get("served-model-name")?.[0] || label;

  const labelPort = labels[Model.port];
  let port: number = ModelDefaults.port;
  if (labelPort !== undefined) {
    port = Number(labelPort);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`${where}: label ${Model.port}=${JSON.stringify(labelPort)} must be a port number 1-65535`);
    }
  }
  port = intFlag(flags, "port", where, 1) ?? port;

  const loraOn = flags.has("enable-lora") && flags.get("enable-lora")?.at(-1) !== "false";
  const maxLoras = intFlag(flags, "max-loras", where, 1);
  const maxLoraRank = intFlag(flags, "max-lora-rank", where, 1);
  if (maxLoraRank !== undefined && !VLLM_LORA_RANKS.includes(maxLoraRank)) {
    throw new Error(`${where}: --max-lora-rank ${maxLoraRank} must be one of ${VLLM_LORA_RANKS.join(", ")}`);
  }
  const adapters = loraModuleNames(flags.get("lora-modules") ?? [], where);
  if (adapters.length > 0 && !loraOn) {
    throw new Error(`${where}: --lora-modules ${adapters.join(",")} needs --enable-lora`);
  }
  const { calibration, reason } = calibrationFor(product, model);
  return {
    model,
    port,
    calibration,
    calibrationReason: reason,
    // A vLLM command line without --enable-lora serves no adapters; with it, vLLM's defaults fill the gaps.
    maxLoras: args === undefined ? undefined : loraOn ? (maxLoras ?? VLLM_LORA_DEFAULTS.maxLoras) : 0,
    maxLoraRank: loraOn ? (maxLoraRank ?? VLLM_LORA_DEFAULTS.maxLoraRank) : undefined,
    adapters,
    maxModelLen: intFlag(flags, "max-model-len", where, 1),
    maxNumSeqs: intFlag(flags, "max-num-seqs", where, 1),
    maxNumBatchedTokens: intFlag(flags, "max-num-batched-tokens", where, 1),
    blockSize: intFlag(flags, "block-size", where, 1),
    fromCommandLine: args !== undefined,
  };
}
