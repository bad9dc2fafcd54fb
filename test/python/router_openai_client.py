"""Drives the official OpenAI Python client against the router: chat, completion, streaming with usage, models.

Usage: python3 router_openai_client.py <base_url> <model>
Prints one JSON line with what it observed; exits non-zero on any failure.
"""
import json
import sys

try:
    import openai
except ImportError:
    sys.stderr.write(
        "the Python openai package is missing: run `pip install -r test/python/requirements.txt`\n"
    )
    sys.exit(3)


def main() -> None:
    base_url, model = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=30)
    out = {}
    chat = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8
    )
    out["chat_content"] = chat.choices[0].message.content
    out["chat_usage"] = chat.usage.completion_tokens
    comp = client.completions.create(model=model, prompt="Once upon a time", max_tokens=6)
    out["completion_text"] = comp.choices[0].text
    out["completion_usage"] = comp.usage.completion_tokens
    chunks, text, usage = 0, "", None
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
    out["stream_chunks"] = chunks
    out["stream_text"] = text
    out["stream_usage"] = usage
    out["models"] = sorted(m.id for m in client.models.list().data)
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        out["unknown_model_error"] = None
    except openai.NotFoundError as e:
        out["unknown_model_error"] = e.status_code
    print(json.dumps(out))


if __name__ == "__main__":
    main()
