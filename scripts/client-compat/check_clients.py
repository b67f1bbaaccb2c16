"""Real client libraries against a running `sluice serve` on the default model.

Usage: python check_clients.py http://127.0.0.1:PORT

Runs the Python `openai` package (completions, chat completions, streaming, an error) and
`huggingface_hub`'s InferenceClient (`text_generation` with details and streaming,
`chat_completion`). Every call is greedy, so the routes must agree with each other exactly.
Exits non-zero with the failing check on stderr.
"""

import sys

import huggingface_hub
import openai

PROMPT = "The capital of France is"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")


def check_openai(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    model = client.models.list().data[0].id
    done = client.completions.create(model=model, prompt=PROMPT, max_tokens=8, temperature=0)
    text = done.choices[0].text
    check(text.startswith(" Paris"), f"completion text {text!r}")
    check(done.usage.completion_tokens == 8, f"usage {done.usage}")
    check(done.choices[0].finish_reason == "length", done.choices[0].finish_reason)

    chunks = client.completions.create(
        model=model, prompt=PROMPT, max_tokens=8, temperature=0, stream=True
    )
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    check(streamed == text, f"streamed completion {streamed!r} != {text!r}")

    chat = client.chat.completions.create(
        model=model, messages=QUESTION, max_tokens=16, temperature=0, logprobs=True, top_logprobs=2
    )
    answer = chat.choices[0].message.content
    check(answer, "empty chat answer")
    check(chat.choices[0].logprobs.content[0].top_logprobs, "chat top_logprobs missing")
    check(chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens, "usage sum")

    stream = client.chat.completions.create(
        model=model,
        messages=QUESTION,
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, usage = [], None
    for chunk in stream:
        usage = chunk.usage or usage
        parts.extend(c.delta.content or "" for c in chunk.choices)
    check("".join(parts) == answer, f"streamed chat {''.join(parts)!r} != {answer!r}")
    check(usage is not None and usage.completion_tokens == chat.usage.completion_tokens, f"stream usage {usage}")

    two = client.completions.create(model=model, prompt=PROMPT, max_tokens=4, n=2, seed=3)
    check(len(two.choices) == 2, "n=2 choices")

    try:
        client.completions.create(model=model, prompt=PROMPT, max_tokens=4, temperature=7)
        check(False, "temperature 7 was accepted")
    except openai.UnprocessableEntityError as e:
        check("temperature" in str(e), f"error message {e}")
    return text, answer


def check_huggingface(url, completion, answer):
    client = huggingface_hub.InferenceClient(url)
    out = client.text_generation(PROMPT, max_new_tokens=8, details=True, decoder_input_details=True)
    check(out.generated_text == completion, f"text_generation {out.generated_text!r}")
    check(out.details.generated_tokens == 8, f"details {out.details}")
    check(out.details.finish_reason == "length", out.details.finish_reason)
    check(len(out.details.prefill) == 5 and out.details.prefill[1].logprob < 0, "prefill")

    events = list(client.text_generation(PROMPT, max_new_tokens=8, stream=True, details=True))
    streamed = "".join(e.token.text for e in events)
    check(streamed == completion, f"streamed text_generation {streamed!r}")
    check(events[-1].generated_text == completion, "last event's generated_text")
    check(events[-1].details.generated_tokens == 8, "last event's details")

    chat = client.chat_completion(messages=QUESTION, max_tokens=16, temperature=0)
    check(chat.choices[0].message.content == answer, f"chat_completion {chat.choices[0].message.content!r}")
    chunks = client.chat_completion(messages=QUESTION, max_tokens=16, temperature=0, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check(streamed == answer, f"streamed chat_completion {streamed!r}")


def main():
    url = sys.argv[1].rstrip("/")
    completion, answer = check_openai(url)
    check_huggingface(url, completion, answer)
    print(f"ok: openai {openai.__version__}, huggingface_hub {huggingface_hub.__version__}")


if __name__ == "__main__":
    main()
