"""Writes test vectors produced by vLLM's own code, for the unit tests of our reimplementations.

    python vllm_vectors.py TOKENIZER_DIR OUT_JSON      (run with the real-engine venv's python)

- block hashes: vLLM's request block hasher (`get_request_block_hasher`) on real `Request` objects, for both
  reproducible algorithms, several NONE_HASH seeds, LoRA requests and cache salts, several block sizes;
- KV events: payloads encoded exactly as vLLM's ZMQ publisher encodes them (its msgspec structs and encoder);
- prompts: token ids vLLM's renderer gives for chat (template applied, no extra special tokens) and completions.
"""

import json
import os
import random
import sys

import msgspec
import vllm
from vllm import SamplingParams
from vllm.distributed.kv_events import AllBlocksCleared, BlockRemoved, BlockStored, KVEventBatch
from vllm.lora.request import LoRARequest
from vllm.utils.hashing import get_hash_fn_by_name
from vllm.v1.core import kv_cache_utils
from vllm.v1.request import Request


def block_hash_cases():
    rng = random.Random(20261202)
    cases = []
    specs = [
        # (algo, seed, block size, tokens, lora, salt)
        ("sha256", None, 16, 64, None, None),
        ("sha256", None, 128, 300, None, None),
        ("sha256", "0", 16, 40, None, None),
        ("sha256", "12345", 4, 13, None, None),
        ("sha256", None, 16, 48, ("sql-lora", 1, "/adapters/sql-lora"), None),
        ("sha256", None, 16, 48, None, "tenant-a"),
        ("sha256", None, 16, 48, ("sql-lora", 1, "/adapters/sql-lora"), "tenant-a"),
        ("sha256", None, 1, 5, None, None),
        ("sha256", None, 2048, 4096, None, None),
        ("sha256_cbor", None, 16, 64, None, None),
        ("sha256_cbor", None, 128, 300, None, None),
        ("sha256_cbor", "0", 16, 40, None, None),
        ("sha256_cbor", None, 16, 48, ("sql-lora", 1, "/adapters/sql-lora"), "tenant-a"),
        ("sha256_cbor", None, 2048, 4096, None, None),
    ]
    for algo, seed, block_size, n_tokens, lora, salt in specs:
        if seed is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = seed
        hash_fn = get_hash_fn_by_name(algo)
        kv_cache_utils.init_none_hash(hash_fn)
        # Token ids across every pickle/CBOR integer width: 1, 2 and 4 bytes.
        tokens = [rng.choice([rng.randrange(256), rng.randrange(65536), rng.randrange(2**31)]) for _ in range(n_tokens)]
        request = Request(
            request_id="vector",
            prompt_token_ids=tokens,
            sampling_params=SamplingParams(max_tokens=1),
            pooling_params=None,
            lora_request=LoRARequest(lora[0], lora[1], lora[2]) if lora else None,
            cache_salt=salt,
            block_hasher=kv_cache_utils.get_request_block_hasher(block_size, hash_fn),
        )
        cases.append(
            {
                "algo": algo,
                "seed": seed,
                "blockSize": block_size,
                "tokens": tokens,
                "lora": {"name": lora[0], "path": lora[2]} if lora else None,
                "cacheSalt": salt,
                "noneHash": bytes(kv_cache_utils.NONE_HASH).hex(),
                "digests": [bytes(h).hex() for h in request.block_hashes],
                "eventHashes": [str(kv_cache_utils.maybe_convert_block_hash(h)) for h in request.block_hashes],
            }
        )
    os.environ.pop("PYTHONHASHSEED", None)
    return cases


def kv_event_cases():
    encoder = msgspec.msgpack.Encoder()
    digest = bytes(range(32))
    big = 0xFEDCBA9876543210
    batches = {
        "stored-int": KVEventBatch(
            ts=1764700000.25,
            events=[
                BlockStored(
                    block_hashes=[big, 7],
                    parent_block_hash=None,
                    token_ids=list(range(8)),
                    block_size=4,
                    lora_id=None,
                    medium="GPU",
                    lora_name=None,
                )
            ],
            data_parallel_rank=0,
        ),
        "stored-lora-extra": KVEventBatch(
            ts=2.5,
            events=[
                BlockStored(
                    block_hashes=[11],
                    parent_block_hash=big,
                    token_ids=[1, 2, 3, 4],
                    block_size=4,
                    lora_id=3,
                    medium="GPU",
                    lora_name="sql-lora",
                    extra_keys=[("sql-lora", "tenant-a")],
                    group_idx=1,
                    kv_cache_spec_kind="full_attention",
                    kv_cache_spec_sliding_window=None,
                )
            ],
            data_parallel_rank=0,
        ),
        "stored-bytes": KVEventBatch(
            ts=3.0,
            events=[
                BlockStored(
                    block_hashes=[digest],
                    parent_block_hash=digest[::-1],
                    token_ids=[5, 6],
                    block_size=2,
                    lora_id=None,
                    medium="CPU",
                    lora_name=None,
                )
            ],
        ),
        "removed": KVEventBatch(ts=4.0, events=[BlockRemoved(block_hashes=[big], medium="GPU", group_idx=0)], data_parallel_rank=0),
        "removed-cpu": KVEventBatch(ts=4.5, events=[BlockRemoved(block_hashes=[7], medium="CPU")], data_parallel_rank=1),
        "cleared": KVEventBatch(ts=5.0, events=[AllBlocksCleared()], data_parallel_rank=0),
    }
    return {name: encoder.encode(batch).hex() for name, batch in batches.items()}


def prompt_cases(tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    conversations = [
        [{"role": "user", "content": "Hello there, how are you today?"}],
        [
            {"role": "system", "content": "You answer questions about the router and its KV events."},
            {"role": "user", "content": "What does a BlockStored event carry?  "},
            {"role": "assistant", "content": "Block hashes, token ids and the block size."},
            {"role": "user", "content": "Ünïcödé, emoji 🚀 and\ttabs\nnewlines."},
        ],
    ]
    cases = []
    for messages in conversations:
        # What vLLM's chat endpoint does: apply the template as text, then tokenize without adding special tokens.
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        cases.append(
            {
                "kind": "chat",
                "messages": messages,
                "text": text,
                "ids": tokenizer.encode(text, add_special_tokens=False),
            }
        )
    for prompt in ["The quick brown fox", "  leading spaces and <|im_start|> a special token", "Ωmega 123 456789"]:
        cases.append({"kind": "completion", "prompt": prompt, "ids": tokenizer.encode(prompt, add_special_tokens=True)})
    return cases


if __name__ == "__main__":
    tokenizer_dir, out = sys.argv[1], sys.argv[2]
    vectors = {
        "vllm": vllm.__version__,
        "blockHashes": block_hash_cases(),
        "kvEvents": kv_event_cases(),
        "prompts": prompt_cases(tokenizer_dir),
    }
    with open(out, "w") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
