"""Builds the tiny Llama model the real-engine tests serve with vLLM, from nothing but local files.

    python tiny_model.py tokenizer OUT_DIR   # trains the byte-level BPE tokenizer (its output is committed as
                                             # simulator/tokenizer/: the simulator's default tokenizer, shared
                                             # by the unit tests and the real engines)
    python tiny_model.py model TOKENIZER_DIR OUT_DIR
                                             # OUT_DIR/model: LlamaForCausalLM (random weights, fixed seed, bf16)
                                             # OUT_DIR/adapter: a LoRA adapter for it (r=8, q_proj/v_proj)

Outputs are deterministic for fixed library versions. The model's replies are gibberish; batching, paged KV,
prefix caching, KV events, LoRA and metrics are still the real engine's.
"""

import glob
import json
import os
import shutil
import sys

# The chat template: ChatML-shaped, starting with the BOS token the way Llama templates do, so that a router has to
# apply it exactly as the engine does (and must not add BOS twice) to name the engine's blocks.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 2048


def corpus_files(repo_root):
    files = sorted(glob.glob(os.path.join(repo_root, "**", "*.md"), recursive=True))
    return [f for f in files if "node_modules" not in f and os.path.getsize(f) > 0]


def build_tokenizer(out_dir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    repo_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train(corpus_files(repo_root), trainer)
    bos = tok.token_to_id("<s>")
    # Like Llama tokenizers: BOS is added when special tokens are requested (completions), not for chat prompts
    # whose template already starts with it.
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "</s>",
        "model_max_length": 1024,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>"}, f, indent=2)
        f.write("\n")


def build_model(tokenizer_dir, out_dir):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    model_dir = os.path.join(out_dir, "model")
    adapter_dir = os.path.join(out_dir, "adapter")
    os.makedirs(model_dir, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(model_dir, name))
    tokenizer = PreTrainedTokenizerFast.from_pretrained(model_dir)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(model_dir, safe_serialization=True)

    lora = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(adapter_dir)
    print(json.dumps({"model": model_dir, "adapter": adapter_dir, "vocab": len(tokenizer)}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "tokenizer":
        build_tokenizer(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "model":
        build_model(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
