// The engine model's step time: how long one forward pass over a batch takes on the simulated GPU.
//
//   t = b0 + b1·prefill_tokens + b2·decode_tokens + b3·context_tokens_read + b4·attention_pairs
//
// b0 is the per-step floor (reading the weights once, launch overhead); b1 and b2 the per-token cost of the linear
// layers for prompt and generated tokens; b3 the KV bytes a decoding sequence reads per context token over memory
// bandwidth; b4 the prefill attention, per (prompt token, earlier token it attends to) pair, which is what makes a
// 20,000-token prompt cost more per token than a 2,000-token one. simulator/calibrations.json says where each
// calibration's values come from.

export interface StepCoefficients {
  /** Fixed cost per step, seconds. */
  b0: number;
  /** Seconds per uncached prompt token computed. */
  b1: number;
  /** Seconds per decode token. */
  b2: number;
  /** Seconds per context token read by decoding sequences (KV read volume). */
  b3: number;
  /** Seconds per prefill attention pair: a prompt token computed and one token at or before it (default 0). */
  b4?: number;
}

/** What one step computes, summed over its sequences. */
export interface StepWork {
  prefillTokens: number;
  decodeTokens: number;
  /** Context tokens the decoding sequences read (each one's tokens computed so far). */
  contextTokens: number;
  /** Prefill attention pairs: for each prompt token computed, the tokens up to and including it. */
  attentionPairs: number;
}

/** One sequence's part of a step: `tokens` computed after `computed` already in its KV cache. */
export interface SequenceWork {
  computed: number;
  tokens: number;
  /** True when the sequence is past its prompt (it decodes one token). */
  decoding: boolean;
}

/** Attention pairs of a prefill chunk of `tokens` tokens that starts after `computed` tokens: Σ (computed + i), i = 1..tokens. */
export function attentionPairs(computed: number, tokens: number): number {
  return tokens * computed + (tokens * (tokens + 1)) / 2;
}

/** Sums the work of a step's sequences. */
export function tallyStep(sequences: Iterable<SequenceWork>): StepWork {
  const w: StepWork = { prefillTokens: 0, decodeTokens: 0, contextTokens: 0, attentionPairs: 0 };
  for (const s of sequences) {
    if (s.decoding) {
      w.decodeTokens += s.tokens;
      w.contextTokens += s.computed;
    } else {
      w.prefillTokens += s.tokens;
      w.attentionPairs += attentionPairs(s.computed, s.tokens);
    }
  }
  return w;
}

/** Seconds the step's forward pass takes (LoRA and shared-tier loads are added by the engine). */
export function stepSeconds(c: StepCoefficients, w: StepWork): number {
  return (
    c.b0 + c.b1 * w.prefillTokens + c.b2 * w.decodeTokens + c.b3 * w.contextTokens + (c.b4 ?? 0) * w.attentionPairs
  );
}
