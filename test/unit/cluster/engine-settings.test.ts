import { expect } from "chai";
import {
  engineSettings,
  expandEnvReferences,
  gpuTypeOfProduct,
  parseFlags,
  calibrationFor,
  shellWords,
  vllmArguments,
  type ContainerLike,
  type PodLike,
} from "../../../cluster/engine-settings.js";
import { readinessStatus, type Pod } from "../../../cluster/engine-pods.js";

function pod(container: ContainerLike, labels: Record<string, string> = {}): PodLike {
  return {
    metadata: { name: "llama-0", namespace: "models", labels: { "model.aibrix.ai/name": "llama-3-8b", ...labels } },
    spec: { nodeName: "gpu-a100-0", containers: [{ name: "sidecar", image: "x" } as ContainerLike, container] },
  };
}

describe("engine pods: pod → simulator settings", () => {
  describe("reading the vLLM command line", () => {
    it("finds vLLM as `python3 -m vllm.entrypoints.openai.api_server`, `vllm serve` and inside `sh -c`", () => {
      expect(
        vllmArguments({ command: ["python3", "-m", "vllm.entrypoints.openai.api_server"], args: ["--port", "8080"] }),
      ).to.deep.equal(["--port", "8080"]);
      expect(vllmArguments({ command: ["vllm", "serve", "/models/llama", "--enable-lora"] })).to.deep.equal([
        "/models/llama",
        "--enable-lora",
      ]);
      expect(
        vllmArguments({
          command: ["/bin/sh", "-c"],
          args: ["vllm serve /m --served-model-name 'my model' --max-loras=3"],
        }),
      ).to.deep.equal(["/m", "--served-model-name", "my model", "--max-loras=3"]);
      expect(vllmArguments({ command: ["sleep", "infinity"] })).to.equal(undefined);
    });

    it("expands $(VAR) from the container's env as the kubelet does; $$ escapes; unknown names stay", () => {
      expect(expandEnvReferences("--max-loras=$(N) $$(N) $(MISSING)", { N: "6" })).to.equal(
        "--max-loras=6 $(N) $(MISSING)",
      );
      const s = engineSettings(
        pod({
          name: "vllm",
          command: ["vllm", "serve", "/m", "--enable-lora", "--max-loras", "$(MAX_LORAS)"],
          env: [{ name: "MAX_LORAS", value: "6" }],
        }),
        "NVIDIA-A100-SXM4-80GB",
      );
      expect(s.maxLoras).to.equal(6);
    });

    it("splits shell words with quotes and escapes, and stops at ; & |", () => {
      expect(shellWords(`a "b c" 'd e' f\\ g;h && i`)).to.deep.equal(["a", "b c", "d e", "f g", "h", "i"]);
    });

    it("parses --flag value, --flag=value, bare flags and list flags", () => {
      const { flags, positional } = parseFlags([
        "/models/x",
        "--enable-lora",
        "--port=9000",
        "--served-model-name",
        "a",
        "b",
        "--lora-modules",
        "x=/a",
        "y=/b",
      ]);
      expect(positional).to.deep.equal(["/models/x"]);
      expect(flags.get("enable-lora")).to.deep.equal([""]);
      expect(flags.get("port")).to.deep.equal(["9000"]);
      expect(flags.get("served-model-name")).to.deep.equal(["a", "b"]);
      expect(flags.get("lora-modules")).to.deep.equal(["x=/a", "y=/b"]);
    });
  });

  describe("settings", () => {
    it("takes LoRA settings, port, served name and engine limits from the vLLM args", () => {
      const s = engineSettings(
        pod({
          name: "vllm",
          command: ["python3", "-m", "vllm.entrypoints.openai.api_server"],
          args: [
            "--model=/models/llama",
            "--served-model-name",
            "llama-served",
            "--port",
            "8100",
            "--enable-lora",
            "--max-loras",
            "3",
            "--max-lora-rank",
            "64",
            "--lora-modules",
            "sql=/adapters/sql",
            '{"name": "chat", "path": "/adapters/chat"}',
            "--max-model-len",
            "4096",
            "--max-num-seqs",
            "64",
          ],
        }),
        "NVIDIA-A100-SXM4-80GB",
      );
      expect(s).to.include({
        model: "llama-served",
        port: 8100,
        calibration: "a100-8b",
        maxLoras: 3,
        maxLoraRank: 64,
        maxModelLen: 4096,
        maxNumSeqs: 64,
        fromCommandLine: true,
      });
      expect(s.adapters).to.deep.equal(["sql", "chat"]);
    });

    it("applies vLLM's defaults: LoRA off without --enable-lora; 1 slot and rank 16 with it", () => {
      const off = engineSettings(pod({ name: "vllm", command: ["vllm", "serve", "/m"] }), "NVIDIA-L4");
      expect(off.maxLoras).to.equal(0);
      expect(off.maxLoraRank).to.equal(undefined);
      const on = engineSettings(pod({ name: "vllm", command: ["vllm", "serve", "/m", "--enable-lora"] }), "NVIDIA-L4");
      expect(on).to.include({ maxLoras: 1, maxLoraRank: 16, calibration: "l4-8b" });
    });

    it("uses the model label, the port label (default 8000) and the calibration's LoRA default without a vLLM command", () => {
      const plain = engineSettings(pod({ name: "engine", image: "simulator" } as ContainerLike), undefined);
      expect(plain).to.include({ model: "llama-3-8b", port: 8000, fromCommandLine: false, calibration: "h100-8b" });
      expect(plain.maxLoras).to.equal(undefined);
      expect(engineSettings(pod({ name: "e" }, { "model.aibrix.ai/port": "8081" }), undefined).port).to.equal(8081);
    });

    it("refuses what vLLM would refuse, naming the pod and the flag", () => {
      const bad = (args: string[]) => () =>
        engineSettings(pod({ name: "vllm", command: ["vllm", "serve", "/m", ...args] }), undefined);
      expect(bad(["--enable-lora", "--max-loras", "zero"])).to.throw(/models\/llama-0: --max-loras "zero" must be/);
      expect(bad(["--enable-lora", "--max-lora-rank", "7"])).to.throw(/--max-lora-rank 7 must be one of 1, 8, 16/);
      expect(bad(["--lora-modules", "a=/a"])).to.throw(/--lora-modules a needs --enable-lora/);
      expect(() => engineSettings(pod({ name: "e" }, { "model.aibrix.ai/port": "http" }), undefined)).to.throw(
        /label model.aibrix.ai\/port="http" must be a port number/,
      );
      expect(() => engineSettings({ metadata: { name: "p" }, spec: { containers: [] } }, undefined)).to.throw(
        /label model.aibrix.ai\/name is required/,
      );
    });
  });

  describe("GPU product → simulator calibration", () => {
    it("maps GPU feature discovery product names to calibrations' GPU types by word, with close aliases", () => {
      expect(gpuTypeOfProduct("NVIDIA-H100-80GB-HBM3")).to.equal("H100");
      expect(gpuTypeOfProduct("NVIDIA-A100-SXM4-80GB")).to.equal("A100");
      expect(gpuTypeOfProduct("NVIDIA-L4")).to.equal("L4");
      expect(gpuTypeOfProduct("NVIDIA-L40S")).to.equal("L40S");
      expect(gpuTypeOfProduct("NVIDIA-A10G")).to.equal("A10G");
      expect(gpuTypeOfProduct("NVIDIA-H200")).to.equal("H100");
      expect(gpuTypeOfProduct("Tesla-T4")).to.equal(undefined);
    });

    it("picks the calibration for the model's size when there is one, else the GPU's 8B calibration, else the default", () => {
      expect(calibrationFor("NVIDIA-H100-80GB-HBM3", "qwen3-32b").calibration).to.equal("h100-32b");
      expect(calibrationFor("NVIDIA-A100-SXM4-80GB", "qwen3-32b").calibration).to.equal("a100-8b");
      expect(calibrationFor("NVIDIA-H100-80GB-HBM3", "llama-3-8b").calibration).to.equal("h100-8b");
      expect(calibrationFor("Tesla-T4", "m")).to.deep.equal({
        calibration: "h100-8b",
        reason: "no calibration for GPU product Tesla-T4",
      });
      expect(calibrationFor(undefined, "m").reason).to.match(/no nvidia.com\/gpu.product/);
    });
  });

  describe("readiness as the kubelet reports it", () => {
    const running: Pod = {
      metadata: { name: "p", namespace: "n", labels: { "model.aibrix.ai/name": "m" } },
      spec: { containers: [{ name: "vllm", command: ["vllm", "serve", "/m"] }] },
      status: {
        phase: "Running",
        podIP: "10.244.0.5",
        conditions: [
          { type: "Initialized", status: "True" },
          { type: "Ready", status: "True" },
          { type: "ContainersReady", status: "True" },
        ],
        containerStatuses: [{ name: "vllm", ready: true, restartCount: 0 }],
      },
    };

    it("turns Ready and ContainersReady False with the kubelet's reason, and back; no change when already so", () => {
      const notReady = readinessStatus(running, false, 0, "T1");
      expect(notReady?.conditions.find((c) => c.type === "Ready")).to.deep.equal({
        type: "Ready",
        status: "False",
        lastTransitionTime: "T1",
        reason: "ContainersNotReady",
        message: "containers with unready status: [vllm]",
      });
      expect(notReady?.conditions.find((c) => c.type === "Initialized")?.status).to.equal("True");
      expect(notReady?.containerStatuses[0]).to.include({ ready: false, started: false, restartCount: 0 });
      const back = readinessStatus({ ...running, status: { ...running.status, ...notReady } }, true, 1, "T2");
      expect(back?.conditions.find((c) => c.type === "ContainersReady")).to.deep.equal({
        type: "ContainersReady",
        status: "True",
        lastTransitionTime: "T2",
      });
      expect(back?.containerStatuses[0]).to.include({ ready: true, restartCount: 1 });
      expect(readinessStatus(running, true, 0)).to.equal(undefined);
    });
  });
});
