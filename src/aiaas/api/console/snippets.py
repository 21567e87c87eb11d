""""View code" for the playgrounds: the call a playground makes, as code a user can paste.

For one model, the server's base URL and the page's example input, each kind gives the same
call three ways: ``curl``, the aiaas Python SDK (``aiaas.Client``) and the client a user may
already have: ``openai`` where the OpenAI-compatible routes serve the task (chat, embeddings,
speech) or ``tritonclient`` over KServe V2 for classifiers (forecasts have neither). The key is
always read from ``$AIAAS_API_KEY``; none is ever written into a page.

Pure functions of their arguments, so the tests parse the Python, load the curl body as JSON and
run the code against a real server. Examples per kind (what ``playground_pages`` passes):

- chat: ``{"messages": [...], "temperature", "top_p", "max_tokens", "stop"}``
- embeddings: ``{"input": [text, ...]}``
- classify: ``{"task", "record": {feature: number}}`` (tabular), ``{"task", "text"}`` (text) or
  ``{"task", "file": "image.png"}`` (image)
- speech: ``{"file": "speech.wav"}``
- forecast: ``{"horizon": int}``
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

Example = dict[str, Any]
Snippets = dict[str, str]
LABELS = {"curl": "curl", "python": "Python (aiaas SDK)", "openai": "Python (openai)",
          "triton": "Python (tritonclient)"}
"""How the "View code" tabs name each snippet, in tab order."""
AUTH = '-H "Authorization: Bearer $AIAAS_API_KEY"'
KEY = 'os.environ["AIAAS_API_KEY"]'
TABULAR = ("tabular-classification", "tabular-regression")
LINE = 88


def py(value: Any, indent: int = 0) -> str:
    """``value`` (JSON data) as a Python literal in double quotes: on one line when it fits,
    else one element a line (JSON's true/false/null would not parse as Python)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are Python's too
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        items = [f"{py(key)}: {py(item, indent + 4)}" for key, item in value.items()]
        ends = "{}"
    else:
        items = [py(item, indent + 4) for item in value]
        ends = "[]"
    flat = ends[0] + ", ".join(items) + ends[1]
    if indent + len(flat) <= LINE and "\n" not in flat:
        return flat
    pad = " " * (indent + 4)
    return ends[0] + "\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + ends[1]


def _curl_json(url: str, body: Any, *, stream: bool = False) -> str:
    text = json.dumps(body, indent=2, ensure_ascii=False)
    return (f"curl -s{'N' if stream else ''} {shlex.quote(url)} \\\n  {AUTH} \\\n"
            f"  -H \"Content-Type: application/json\" \\\n  -d {shlex.quote(text)}\n")


def _curl_form(url: str, fields: list[tuple[str, str]]) -> str:
    parts = " \\\n  ".join(f"-F {shlex.quote(f'{name}={value}')}" for name, value in fields)
    return f"curl -s {shlex.quote(url)} \\\n  {AUTH} \\\n  {parts}\n"


def _sdk(base: str, body: str, *, imports: str = "", before: str = "") -> str:
    """The SDK's client around ``body``; ``before`` is module-level code ahead of it."""
    lines = "\n".join(f"    {line}" if line else "" for line in body.splitlines())
    return (f"import os\n{imports}\nfrom aiaas import Client\n\n{before}"
            f"with Client({py(base)}, api_key={KEY}) as client:\n{lines}\n")


def _openai(base: str, body: str) -> str:
    return ("import os\n\nfrom openai import OpenAI\n\n"
            f"client = OpenAI(base_url={py(base + '/v1')}, api_key={KEY})\n{body}")


def _arguments(values: dict[str, Any], indent: int) -> str:
    """``name=value`` keyword arguments, each on its own line at ``indent``."""
    pad = " " * indent
    return "".join(f",\n{pad}{name}={py(value, indent)}" for name, value in values.items())


def chat(model: str, base: str, example: Example) -> Snippets:
    messages = example["messages"]
    sampling = {name: example[name] for name in ("max_tokens", "temperature", "top_p", "stop")
                if example.get(name) not in (None, [])}
    body = {"model": model, "messages": messages, **sampling, "stream": True,
            "stream_options": {"include_usage": True}}
    sdk = _sdk(base, (
        f"with client.chat_stream({py(model)}, messages{_arguments(sampling, 24)}) as stream:\n"
        "    for delta in stream:\n"
        "        print(delta, end=\"\", flush=True)\n"
        "print()\n"
        "print(stream.finish_reason, stream.usage)"), before=f"messages = {py(messages)}\n")
    openai = _openai(base, (
        f"messages = {py(messages)}\n"
        f"stream = client.chat.completions.create(\n    model={py(model)},\n"
        f"    messages=messages{_arguments(sampling, 4)},\n"
        "    stream=True,\n    stream_options={\"include_usage\": True},\n)\n"
        "for chunk in stream:\n"
        "    if chunk.choices:\n"
        "        print(chunk.choices[0].delta.content or \"\", end=\"\", flush=True)\n"
        "    if chunk.usage:\n"
        "        print(\"\\n\", chunk.usage)\n"))
    return {"curl": _curl_json(f"{base}/v1/chat/completions", body, stream=True),
            "python": sdk, "openai": openai}


def embeddings(model: str, base: str, example: Example) -> Snippets:
    texts = example["input"]
    sdk = _sdk(base, (
        f"vectors = client.embed(texts, model={py(model)})\n"
        "print(len(vectors), \"vectors of\", len(vectors[0]), \"dimensions\")"),
        before=f"texts = {py(texts)}\n")
    openai = _openai(base, (
        f"texts = {py(texts)}\n"
        f"result = client.embeddings.create(model={py(model)}, input=texts)\n"
        "print(len(result.data), \"vectors of\", len(result.data[0].embedding), \"dimensions\")\n"
        "print(result.usage)\n"))
    return {"curl": _curl_json(f"{base}/v1/embeddings", {"model": model, "input": texts}),
            "python": sdk, "openai": openai}


def _triton(model: str, base: str, tensor: str, outputs: tuple[str, ...], before: str = "") -> str:
    """A tritonclient call to ``/v2/models/{model}/infer``: ``tensor`` builds ``inputs`` from
    what ``before`` (module-level code) defines, and the ``outputs`` are printed."""
    parts = urlsplit(base)
    ssl = ", ssl=True" if parts.scheme == "https" else ""
    shown = "".join(f"    print({py(name)}, result.as_numpy({py(name)}))\n" for name in outputs)
    return (
        "import os\n\nimport numpy as np\nimport tritonclient.http as httpclient\n\n"
        f"{before}key = {KEY}\n"
        "# tritonclient takes host:port, and a fresh headers dict per call (it writes into it).\n"
        f"with httpclient.InferenceServerClient(url={py(parts.netloc)}{ssl}) as client:\n"
        f"{tensor}"
        f"    result = client.infer({py(model)}, inputs,\n"
        "                          headers={\"Authorization\": f\"Bearer {key}\"})\n"
        f"{shown}")


def classify(model: str, base: str, example: Example) -> Snippets:
    task = example["task"]
    predict = f"{base}/api/v1/models/{model}/predict"
    answer = "[answer] = client.classify({item}, model={model})\nprint(answer.label, answer.probabilities)"
    if task in TABULAR:
        record = example["record"]
        if task == TABULAR[1]:
            call = f"print(client.predict({py(model)}, [record]).outputs[0])"
        else:
            call = answer.format(item="record", model=py(model))
        call += (f"\nwhy = client.explain({py(model)}, [record]).explanations[0]\n"
                 "for feature in why.features[:5]:\n"
                 "    print(f\"{feature.name}: {feature.attribution:+.4f}\")")
        tensor = ("    rows = np.array([list(record.values())], dtype=np.float32)  "
                  "# in feature_names order\n"
                  "    inputs = [httpclient.InferInput(\"input\", list(rows.shape), \"FP32\")]\n"
                  "    inputs[0].set_data_from_numpy(rows)\n")
        outputs = ("value",) if task == TABULAR[1] else ("label", "probabilities")
        defined = f"record = {py(record)}\n"
        return {"curl": _curl_json(predict, {"inputs": [record]}),
                "python": _sdk(base, call, before=defined),
                "triton": _triton(model, base, tensor, outputs, before=defined)}
    if task == "image-classification":
        path = example["file"]
        tensor = (f"    with open({py(path)}, \"rb\") as image:\n"
                  "        data = np.array([image.read()], dtype=object)  # the encoded file\n"
                  "    inputs = [httpclient.InferInput(\"image\", [1], \"BYTES\")]\n"
                  "    inputs[0].set_data_from_numpy(data)\n")
        return {"curl": _curl_form(predict, [("file", f"@{path}")]),
                "python": _sdk(base, answer.format(item=f"Path({py(path)})", model=py(model)),
                               imports="from pathlib import Path\n"),
                "triton": _triton(model, base, tensor, ("label", "probabilities"))}
    text = example["text"]
    call = (answer.format(item="text", model=py(model))
            + f"\nwhy = client.explain({py(model)}, [text]).explanations[0]\n"
            "print([(word.word, round(word.attribution, 3)) for word in why.words])")
    tensor = ("    inputs = [httpclient.InferInput(\"text\", [1], \"BYTES\")]\n"
              "    inputs[0].set_data_from_numpy(np.array([text], dtype=object))\n")
    defined = f"text = {py(text)}\n"
    return {"curl": _curl_json(predict, {"inputs": [text]}),
            "python": _sdk(base, call, before=defined),
            "triton": _triton(model, base, tensor, ("label", "probabilities"), before=defined)}


def speech(model: str, base: str, example: Example) -> Snippets:
    path = example["file"]
    segments = ("for segment in {segments}:\n"
                "    print(f\"{{segment.start:7.2f}} {{segment.end:7.2f}}  {{segment.text.strip()}}\")")
    sdk = _sdk(base, (f"transcript = client.transcribe({py(model)}, {py(path)})\n"
                      "print(transcript.text)\n" + segments.format(segments="transcript.segments")))
    openai = _openai(base, (
        f"with open({py(path)}, \"rb\") as audio:\n"
        "    transcript = client.audio.transcriptions.create(\n"
        f"        model={py(model)}, file=audio, response_format=\"verbose_json\")\n"
        "print(transcript.text)\n" + segments.format(segments="transcript.segments or []") + "\n"))
    curl = _curl_form(f"{base}/v1/audio/transcriptions",
                      [("file", f"@{path}"), ("model", model), ("response_format", "verbose_json")])
    return {"curl": curl, "python": sdk, "openai": openai}


def forecast(model: str, base: str, example: Example) -> Snippets:
    item = {"horizon": example["horizon"]}
    sdk = _sdk(base, (
        f"[answer] = client.predict({py(model)}, [{py(item)}]).outputs\n"
        "rows = zip(answer[\"timestamps\"], answer[\"forecast\"], answer[\"lower\"], answer[\"upper\"])\n"
        "for when, value, low, high in rows:\n"
        "    print(f\"{when}  {value:.3f}  [{low:.3f}, {high:.3f}]\")"))
    return {"curl": _curl_json(f"{base}/api/v1/models/{model}/predict", {"inputs": [item]}),
            "python": sdk}


BUILDERS: dict[str, Callable[[str, str, Example], Snippets]] = {
    "chat": chat, "embeddings": embeddings, "classify": classify, "speech": speech,
    "forecast": forecast,
}


def snippets(kind: str, model: str, base_url: str, example: Example) -> Snippets:
    """The snippets of playground ``kind`` for ``model`` on the server at ``base_url``, keyed
    ``curl``, ``python`` and ``openai`` or ``triton`` where one applies (tab order)."""
    try:
        build = BUILDERS[kind]
    except KeyError:
        raise ValueError(f"no code snippets for playground {kind!r}; known: "
                         f"{', '.join(BUILDERS)}") from None
    return build(model, base_url.rstrip("/"), example)
