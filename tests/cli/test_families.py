"""``aiaas chat``, ``transcribe``, ``embed`` and ``classify``, run as subprocesses against a real server."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from aiaas.client import Client
from tests.cli.conftest import RunCli
from tests.conftest import LiveServer
from tests.runtime.tiny_models import IMAGE_LABELS, build_onnx_image_classifier, picture

CHAT = "smollm2-135m-instruct"
QUESTION = "What is the capital of France?"
GREEDY = ("--temperature", "0", "--max-tokens", "24")


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (result.stdout, result.stderr)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_chat_answers_stdin_or_messages_and_keeps_the_history(
        aiaas: RunCli, live_server: LiveServer, cli_key: str) -> None:
    piped = aiaas("chat", CHAT, *GREEDY, stdin=QUESTION + "\n")
    _ok(piped)
    assert "Paris" in piped.stdout

    talk = aiaas("chat", CHAT, *GREEDY, "--system", "You are a helpful assistant.",
                 "--message", QUESTION, "--message", "And of Italy?", "--json")
    _ok(talk)
    result = json.loads(talk.stdout)
    roles = [message["role"] for message in result["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert "Paris" in result["messages"][2]["content"]
    assert result["messages"][4]["content"] == result["text"]
    assert result["finish_reason"] in {"stop", "length"} and result["model"] == CHAT
    with Client(live_server.url, cli_key) as sdk:
        alone = sdk.chat(CHAT, [result["messages"][0], result["messages"][3]], temperature=0, max_tokens=24)
    assert result["usage"]["prompt_tokens"] > alone.usage.prompt_tokens + 5


def _read_until(fd: int, seen: bytearray, marker: bytes, count: int, timeout: float = 90) -> str:
    """Read the terminal into ``seen`` until ``marker`` appeared ``count`` times."""
    deadline = time.monotonic() + timeout
    while seen.count(marker) < count:
        assert time.monotonic() < deadline, f"waited for {marker!r} x{count}; got {bytes(seen)!r}"
        if select.select([fd], [], [], 0.5)[0]:
            try:
                seen.extend(os.read(fd, 4096))
            except OSError:  # the child closed the terminal
                break
    return seen.decode(errors="replace")


def test_chat_interactive_in_a_terminal(live_server: LiveServer, cli_key: str) -> None:
    env = {**live_server.env, "AIAAS_URL": live_server.url, "AIAAS_API_KEY": cli_key,
           "TERM": "xterm", "COLUMNS": "100"}
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "aiaas", "chat", CHAT, *GREEDY], stdin=child,
                               stdout=child, stderr=child, env=env, close_fds=True)
    os.close(child)
    seen = bytearray()
    try:
        _read_until(main, seen, b">>> ", 1)
        os.write(main, QUESTION.encode() + b"\n")
        answered = _read_until(main, seen, b">>> ", 2)
        assert "Paris" in answered.split(QUESTION, 1)[1]
        os.write(main, b"/reset\n")
        assert "history cleared" in _read_until(main, seen, b">>> ", 3)
        os.write(main, b"/exit\n")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)


def test_chat_errors_are_one_line(aiaas: RunCli) -> None:
    unknown = _one_error_line(aiaas("chat", "no-such-model", "--message", "hello"))
    assert "not_found" in unknown and "no-such-model" in unknown
    assert "empty" in _one_error_line(aiaas("chat", CHAT, "--message", "   "))
    assert "empty" in _one_error_line(aiaas("chat", CHAT, stdin=""))


def test_transcribe_as_text_json_and_subtitles(aiaas: RunCli, speech_wav: Path) -> None:
    text = aiaas("transcribe", "whisper-tiny-en", str(speech_wav))
    _ok(text)
    assert "hospitals" in text.stdout.lower() and "city council" in text.stdout.lower()

    srt = aiaas("transcribe", "whisper-tiny-en", str(speech_wav), "--format", "srt",
                "--beam-size", "1")  # greedy splits this clip into two cues; beam 5 into one
    _ok(srt)
    assert re.match(r"1\n00:00:00,000 --> 00:00:\d\d,\d{3}\n\S", srt.stdout), srt.stdout
    assert "\n\n2\n" in srt.stdout

    vtt = aiaas("transcribe", "whisper-tiny-en", str(speech_wav), "--format", "vtt")
    _ok(vtt)
    assert re.match(r"WEBVTT\n\n00:00:00\.000 --> 00:00:\d\d\.\d{3}\n\S", vtt.stdout), vtt.stdout

    full = aiaas("transcribe", "whisper-tiny-en", str(speech_wav), "--timestamps", "--json",
                 "--language", "en")
    _ok(full)
    body = json.loads(full.stdout)
    assert body["language"] == "en" and body["segments"][0]["words"]

    unknown = _one_error_line(aiaas("transcribe", "no-such-model", str(speech_wav)))
    assert "not_found" in unknown
    wide = aiaas("transcribe", "whisper-tiny-en", str(speech_wav), "--beam-size", "6")
    assert wide.returncode != 0 and "--beam-size" in wide.stderr


def test_embed_texts_with_the_default_or_a_named_model(aiaas: RunCli) -> None:
    table = aiaas("embed", "hello", "world")
    _ok(table)
    assert "all-minilm-l6-v2" in table.stdout and table.stdout.count("384") == 2

    named = aiaas("embed", "all-minilm-l6-v2", "one text", "--json")
    _ok(named)
    body = json.loads(named.stdout)
    [vector] = body["embeddings"]
    assert body["model"] == "all-minilm-l6-v2" and vector["text"] == "one text"
    assert len(vector["embedding"]) == vector["dims"] == 384
    assert vector["norm"] == pytest.approx(1.0, abs=1e-3)


def test_classify_records_and_images(aiaas: RunCli, tmp_path: Path) -> None:
    data = load_breast_cancer()
    record = {name: float(v) for name, v in zip(data.feature_names, data.data[0], strict=True)}
    diagnosis = aiaas("classify", "breast-cancer-diagnosis", json.dumps(record))
    _ok(diagnosis)
    assert data.target_names[data.target[0]] in diagnosis.stdout

    manifest = {"task": "image-classification", "labels": list(IMAGE_LABELS)}
    _ok(aiaas("models", "register", str(build_onnx_image_classifier(tmp_path / "m", manifest=manifest)),
              "--name", "cli-shapes"))
    image = tmp_path / "picture.png"
    image.write_bytes(picture("PNG", seed=5))
    seen = aiaas("classify", "cli-shapes", str(image), "--top-k", "2", "--json")
    _ok(seen)
    [result] = json.loads(seen.stdout)
    assert result["label"] in IMAGE_LABELS and len(result["top_k"]) == 2

    shown = aiaas("classify", "cli-shapes", str(image))
    _ok(shown)
    assert "picture.png" in shown.stdout and result["label"] in shown.stdout

    assert "not a classification model" in _one_error_line(aiaas("classify", "all-minilm-l6-v2", "hi"))
