// Test vectors written by vLLM's own code (test/python/vllm_vectors.py, run with the real-engine venv's python):
// what our reimplementations of its block hashes, KV-event encoding and prompt rendering must reproduce exactly.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");

/** The tiny model's tokenizer files (test/python/tiny_model.py), shared by the simulator, unit and real-engine tests. */
export const TINY_TOKENIZER_DIR = path.resolve(FIXTURES, "../../simulator/tokenizer");

export interface BlockHashVector {
  algo: "sha256" | "sha256_cbor";
  seed: string | null;
  blockSize: number;
  tokens: number[];
  lora: { name: string; path: string } | null;
  cacheSalt: string | null;
  noneHash: string;
  digests: string[];
  eventHashes: string[];
}

export type PromptVector =
  | { kind: "chat"; messages: { role: string; content: string }[]; text: string; ids: number[] }
  | { kind: "completion"; prompt: string; ids: number[] };

export interface VllmVectors {
  vllm: string;
  blockHashes: BlockHashVector[];
  /** Batch name → payload bytes (hex) exactly as vLLM's publisher sends them. */
  kvEvents: Record<string, string>;
  prompts: PromptVector[];
}

export const vllmVectors = JSON.parse(readFileSync(path.join(FIXTURES, "vllm", "vectors.json"), "utf8")) as VllmVectors;
