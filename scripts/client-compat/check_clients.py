"""Real client libraries against a running `sluice serve` on the default model.

Usage: python check_clients.py http://127.0.0.1:PORT

Runs the Python `openai` package (completions, chat completions, streaming, an error, tool
calls, structured output) and `huggingface_hub`'s InferenceClient (`text_generation` with
details and streaming, `chat_completion` with and without tools). Every call is greedy, so the
routes must agree with each other exactly.
Exits non-zero with the failing check on stderr.
"""

import json
import sys

import huggingface_hub
import openai

PROMPT = "The capital of France is"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = [{"role": "user", "content": "What is the weather like in Paris today?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 40},
                    "unit": {"enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "The current time in a time zone",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"type": "string", "maxLength": 40}},
                "required": ["zone"],
                "additionalProperties": False,
            },
        },
    },
]
CITY = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "country": {"type": "string", "maxLength": 30},
        "population": {"type": "integer", "minimum": 0, "maximum": 100000000},
    },
    "required": ["name", "country", "population"],
    "additionalProperties": False,
}


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

    check_openai_structured(client, model)

    try:
        client.completions.create(model=model, prompt=PROMPT, max_tokens=4, temperature=7)
        check(False, "temperature 7 was accepted")
    except openai.UnprocessableEntityError as e:
        check("temperature" in str(e), f"error message {e}")
    return text, answer


def check_call(call, name, keys):
    check(call.type == "function" and call.id, f"call {call}")
    check(call.function.name == name, f"called {call.function.name}, wanted {name}")
    arguments = call.function.arguments
    arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
    check(set(arguments) == set(keys), f"arguments {arguments}")


def check_openai_structured(client, model):
    for choice, name in [("required", None), ({"type": "function", "function": {"name": "get_time"}}, "get_time")]:
        chat = client.chat.completions.create(
            model=model, messages=WEATHER, tools=TOOLS, tool_choice=choice, max_tokens=120,
            temperature=0, parallel_tool_calls=False,
        )
        message = chat.choices[0].message
        check(chat.choices[0].finish_reason == "tool_calls", f"finish {chat.choices[0].finish_reason}")
        check(message.content is None and len(message.tool_calls) == 1, f"message {message}")
        call = message.tool_calls[0]
        name = name or call.function.name
        check_call(call, name, ["zone"] if name == "get_time" else ["city", "unit"])

    stream = client.chat.completions.create(
        model=model, messages=WEATHER, tools=TOOLS, max_tokens=120, temperature=0, stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    calls, finish = [], None
    for chunk in stream:
        for c in chunk.choices:
            calls.extend(c.delta.tool_calls or [])
            finish = c.finish_reason or finish
    check(finish == "tool_calls" and len(calls) == 1, f"streamed calls {calls}, finish {finish}")
    check_call(calls[0], "get_weather", ["city", "unit"])

    chat = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Describe Paris as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY, "strict": True}},
        max_tokens=120,
        temperature=0,
    )
    city = json.loads(chat.choices[0].message.content)
    check(set(city) == {"name", "country", "population"}, f"json_schema answer {city}")

    done = client.completions.create(
        model=model, prompt="The best pet is a", max_tokens=8, temperature=0,
        extra_body={"guided_choice": [" cat", " dog"]},
    )
    check(done.choices[0].text in (" cat", " dog"), f"guided_choice {done.choices[0].text!r}")


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

    chat = client.chat_completion(
        messages=WEATHER, tools=TOOLS, tool_choice="required", max_tokens=120, temperature=0
    )
    calls = chat.choices[0].message.tool_calls
    check(calls and calls[0].function.name in ("get_weather", "get_time"), f"tool_calls {calls}")
    chat = client.chat_completion(
        messages=[{"role": "user", "content": "Describe Paris as JSON."}],
        response_format={"type": "json", "value": CITY},
        max_tokens=120,
        temperature=0,
    )
    city = json.loads(chat.choices[0].message.content)
    check(set(city) == {"name", "country", "population"}, f"TGI response_format answer {city}")


def main():
    url = sys.argv[1].rstrip("/")
    completion, answer = check_openai(url)
    check_huggingface(url, completion, answer)
    print(f"ok: openai {openai.__version__}, huggingface_hub {huggingface_hub.__version__}")


if __name__ == "__main__":
    main()
