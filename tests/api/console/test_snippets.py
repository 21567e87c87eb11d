"""The playgrounds' "View code": every Python snippet parses, every curl body is the JSON the
page sends, no key is ever written into one, and the snippets really run against a server
(the SDK, curl, openai and tritonclient, each with the key only in the environment)."""

from __future__ import annotations

import ast
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aiaas.api.console.snippets import LABELS, py, snippets
from tests.conftest import LiveServer

BASE = "http://127.0.0.1:8000"
FEATURES = {"mean radius": 14.1, "worst area": 880.5}
CHAT = {"messages": [{"role": "system", "content": "Answer briefly."},
                     {"role": "user", "content": "What's the \"capital\" of France? ünïcode"}],
        "max_tokens": 16, "temperature": 0.2, "top_p": 0.9, "stop": ["\n\n"]}
EXAMPLES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("chat", CHAT, {"curl", "python", "openai"}),
    ("embeddings", {"input": ["one", "it's two"]}, {"curl", "python", "openai"}),
    ("classify", {"task": "tabular-classification", "record": FEATURES},
     {"curl", "python", "triton"}),
    ("classify", {"task": "tabular-regression", "record": FEATURES}, {"curl", "python", "triton"}),
    ("classify", {"task": "text-classification", "text": "A warm, 'clever' film."},
     {"curl", "python", "triton"}),
    ("classify", {"task": "image-classification", "file": "image.png"},
     {"curl", "python", "triton"}),
    ("speech", {"file": "speech.wav"}, {"curl", "python", "openai"}),
    ("forecast", {"horizon": 3}, {"curl", "python"}),
]


def curl_arguments(snippet: str) -> list[str]:
    """The curl command's arguments as a shell would pass them."""
    return shlex.split(snippet.replace("\\\n", " "))


def curl_body(snippet: str) -> Any:
    arguments = curl_arguments(snippet)
    return json.loads(arguments[arguments.index("-d") + 1])


@pytest.mark.parametrize(("kind", "example", "keys"), EXAMPLES,
                         ids=[f"{kind}-{example.get('task', '')}" for kind, example, _ in EXAMPLES])
def test_each_snippet_parses_and_names_the_model_the_server_and_no_key(
        kind: str, example: dict[str, Any], keys: set[str]) -> None:
    code = snippets(kind, "some-model", BASE + "/", example)
    assert list(code) == [name for name in LABELS if name in keys]
    for name, text in code.items():
        assert "some-model" in text, name
        assert "aiaas-" not in text, name  # never a key, only the variable
        if name == "curl":
            assert curl_arguments(text)[0] == "curl"
            assert "Bearer $AIAAS_API_KEY" in text and f"{BASE}/" in text
        else:
            ast.parse(text)
            assert 'os.environ["AIAAS_API_KEY"]' in text, name
            assert "127.0.0.1:8000" in text, name


def test_the_curl_bodies_are_what_the_pages_send() -> None:
    chat = curl_body(snippets("chat", "smol", BASE, CHAT)["curl"])
    assert chat["messages"] == CHAT["messages"]  # quotes and non-ASCII survive the shell
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert (chat["max_tokens"], chat["temperature"], chat["top_p"], chat["stop"]) == (
        16, 0.2, 0.9, ["\n\n"])
    assert "stop" not in curl_body(snippets("chat", "smol", BASE, {**CHAT, "stop": []})["curl"])
    assert curl_body(snippets("embeddings", "mini", BASE, {"input": ["one", "it's two"]})["curl"]) \
        == {"model": "mini", "input": ["one", "it's two"]}
    tabular = snippets("classify", "dx", BASE, {"task": "tabular-classification",
                                                 "record": FEATURES})
    assert curl_body(tabular["curl"]) == {"inputs": [FEATURES]}
    assert curl_body(snippets("forecast", "load", BASE, {"horizon": 3})["curl"]) == {
        "inputs": [{"horizon": 3}]}
    speech = curl_arguments(snippets("speech", "whisper", BASE, {"file": "a b.wav"})["curl"])
    assert "file=@a b.wav" in speech and "response_format=verbose_json" in speech
    image = curl_arguments(snippets("classify", "pets", BASE, {"task": "image-classification",
                                                               "file": "cat.png"})["curl"])
    assert image[2] == f"{BASE}/api/v1/models/pets/predict" and "file=@cat.png" in image


def test_tritonclient_gets_host_and_port_and_tls_for_https() -> None:
    example = {"task": "tabular-regression", "record": FEATURES}
    plain = snippets("classify", "dx", "http://10.0.0.5:8000", example)["triton"]
    assert 'url="10.0.0.5:8000")' in plain and "ssl=True" not in plain
    assert 'result.as_numpy("value")' in plain and '"probabilities"' not in plain
    secure = snippets("classify", "dx", "https://models.example.com", example)["triton"]
    assert 'url="models.example.com", ssl=True' in secure


def test_python_literals_round_trip() -> None:
    value = {"a": [1, 2.5, True, None, "it's \"q\"\n"], "ü": {"nested": [{"x": -1e-9}] * 12}}
    assert ast.literal_eval(py(value)) == value
    assert py("x") == '"x"' and py([]) == "[]"


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"'nope'.*chat, embeddings"):
        snippets("nope", "m", BASE, {})


# -- the snippets run --------------------------------------------------------------------------

def run_python(code: str, key: str, tmp_path: Path, name: str) -> str:
    script = tmp_path / f"snippet_{name}.py"  # not openai.py: it would shadow the package
    script.write_text(code)
    environment = {**os.environ, "AIAAS_API_KEY": key}
    done = subprocess.run([sys.executable, str(script)], env=environment, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_snippets_run_against_the_server(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_key("snippets", "--scope", "predict")
    texts = {"input": ["A man is playing a guitar.", "The market fell."]}
    code = snippets("embeddings", "all-minilm-l6-v2", server.url, texts)
    assert run_python(code["python"], key, tmp_path, "sdk").strip() == \
        "2 vectors of 384 dimensions"
    assert "2 vectors of 384 dimensions" in run_python(code["openai"], key, tmp_path, "openai")
    done = subprocess.run(["bash", "-c", code["curl"]], env={**os.environ, "AIAAS_API_KEY": key},
                          capture_output=True, text=True, timeout=60, check=True)
    assert [len(item["embedding"]) for item in json.loads(done.stdout)["data"]] == [384, 384]

    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    record = {str(name): float(value) for name, value in zip(data.feature_names, data.data[0],
                                                            strict=True)}
    code = snippets("classify", "breast-cancer-diagnosis", server.url,
                    {"task": "tabular-classification", "record": record})
    out = run_python(code["python"], key, tmp_path, "classify")
    assert out.startswith("malignant {") and out.count(": ") >= 5  # label, then 5 features
    assert "label [b'malignant']" in run_python(code["triton"], key, tmp_path, "triton")
