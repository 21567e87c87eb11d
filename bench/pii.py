"""PII detection: recall and precision per entity type on a labelled set, the latency a policy
adds to a call, and a chat pseudonymisation round trip on the built-in chat model.

    python bench/pii.py                          # all three, on bench/data/pii_test.jsonl
    python bench/pii.py --only accuracy --data bench/data/pii_dev.jsonl

The sets are JSONL, one text per line with its entities (type, start, end). ``pii_dev.jsonl``
is for tuning; ``pii_test.jsonl`` is held out (never tuned on). A gold entity is found when a
detection of its type overlaps it; a detection is a false positive when it overlaps no gold
entity of its type (so a street address found as two pieces is one hit, not a miss). The
labelled ``DATE_TIME`` entities are birth dates: aiaas calls them ``DATE_OF_BIRTH``.

Latency: two servers on one data dir's models (policy ``off`` and ``redact``) called in
alternating rounds with 100-word texts on the built-in embedder, so the difference is what the
analyzer adds; p50 and p99 of each, in one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rate_limits import prepare, start

HERE = Path(__file__).resolve().parent
TYPES = {"DATE_TIME": "DATE_OF_BIRTH"}
STRICT = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN")
TARGETS = {**{t: 0.98 for t in STRICT}, "PERSON": 0.90}


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def accuracy(rows: list[dict[str, Any]], threads: int) -> dict[str, Any]:
    import torch

    from aiaas.config import Settings
    from aiaas.privacy.analyzer import Analyzer
    from aiaas.privacy.service import model_dir

    torch.set_num_threads(threads)
    analyzer = Analyzer(lambda: model_dir(Settings()))
    analyzer.load()
    found = analyzer.analyze([row["text"] for row in rows])
    gold_n, hit, pred_n, false_pos = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    misses: list[str] = []
    for row, detected in zip(rows, found, strict=True):
        gold = [(TYPES.get(e["type"], e["type"]), e["start"], e["end"]) for e in row["entities"]]
        for type_, begin, end in gold:
            gold_n[type_] += 1
            if any(d.type == type_ and d.start < end and begin < d.end for d in detected):
                hit[type_] += 1
            else:
                misses.append(f"{row['id']}: {type_} {row['text'][begin:end]!r}")
        for d in detected:
            pred_n[d.type] += 1
            if not any(t == d.type and s < d.end and d.start < e for t, s, e in gold):
                false_pos[d.type] += 1
                misses.append(f"{row['id']}: false {d.type} {row['text'][d.start:d.end]!r}")
    per_type = {}
    for type_ in sorted(set(gold_n) | set(pred_n)):
        recall = hit[type_] / gold_n[type_] if gold_n[type_] else None
        precision = 1 - false_pos[type_] / pred_n[type_] if pred_n[type_] else None
        per_type[type_] = {"gold": gold_n[type_], "found": hit[type_], "detections": pred_n[type_],
                           "recall": recall, "precision": precision}
    total_pred = sum(pred_n.values())
    return {"texts": len(rows), "per_type": per_type,
            "precision_overall": 1 - sum(false_pos.values()) / total_pred if total_pred else None,
            "recall_overall": sum(hit.values()) / sum(gold_n.values()),
            "errors": misses}


def hundred_words(rows: list[dict[str, Any]], count: int) -> list[str]:
    """Texts of exactly 100 words made from the set's own texts (PII included)."""
    words = " ".join(row["text"] for row in rows).split()
    return [" ".join(words[(i * 100) % (len(words) - 100):][:100]) for i in range(count)]


def latency(rows: list[dict[str, Any]], threads: int, rounds: int, calls: int) -> dict[str, Any]:
    texts = hundred_words(rows, calls)
    with tempfile.TemporaryDirectory(prefix="aiaas-pii-bench-") as tmp:
        data = Path(tmp) / "data"
        admin = prepare(data, {"all-minilm-l6-v2"})
        servers = {mode: start(data, admin, threads, "all-minilm-l6-v2", AIAAS_PII_POLICY=mode)
                   for mode in ("off", "redact")}
        try:
            times: dict[str, list[float]] = {mode: [] for mode in servers}
            for server in servers.values():  # warm: the analyzer loads on first use
                _embed(server.url, admin, texts[0])
            for _ in range(rounds):
                for mode, server in servers.items():
                    with httpx.Client(base_url=server.url, timeout=60,
                                      headers={"Authorization": f"Bearer {admin}"}) as client:
                        for text in texts:
                            started = time.perf_counter()
                            response = client.post("/api/v1/models/all-minilm-l6-v2/predict",
                                                   json={"inputs": [text]})
                            response.raise_for_status()
                            times[mode].append((time.perf_counter() - started) * 1000)
        finally:
            for server in servers.values():
                server.stop()
    summary = {mode: {"p50_ms": _pct(t, 50), "p99_ms": _pct(t, 99), "calls": len(t)}
               for mode, t in times.items()}
    summary["added_ms"] = {p: round(summary["redact"][p] - summary["off"][p], 2)
                           for p in ("p50_ms", "p99_ms")}
    return summary


def _embed(url: str, key: str, text: str) -> None:
    httpx.post(f"{url}/api/v1/models/all-minilm-l6-v2/predict", json={"inputs": [text]},
               headers={"Authorization": f"Bearer {key}"}, timeout=600).raise_for_status()


def _pct(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))], 2)


def round_trip(threads: int) -> dict[str, Any]:
    """One chat asked twice on the built-in chat model, greedy: under ``redact`` (the reply as
    the model wrote it, placeholders and all) and under ``pseudonymize`` (what the caller
    reads), whole and streamed."""
    from openai import OpenAI

    prompt = ("Repeat after me: Hello, Mariana Okafor! We will write to m.okafor@examplemail.com "
              "today.")
    with tempfile.TemporaryDirectory(prefix="aiaas-pii-chat-") as tmp:
        data = Path(tmp) / "data"
        admin = prepare(data, {"smollm2-135m-instruct"})
        server = start(data, admin, threads, "smollm2-135m-instruct")
        try:
            with httpx.Client(base_url=server.url, timeout=600,
                              headers={"Authorization": f"Bearer {admin}"}) as client:
                shown = client.post("/api/v1/privacy/analyze", json={"texts": [prompt]}).json()
                keys = {}
                for mode in ("redact", "pseudonymize"):
                    secret = client.post("/api/v1/keys", json={
                        "name": mode, "tenant": "default"}).json()["secret"]
                    client.put(f"/api/v1/keys/{secret.split('-')[1]}/privacy",
                               json={"mode": mode}).raise_for_status()
                    keys[mode] = secret
            replies: dict[str, Any] = {"prompt": prompt,
                                       "model_saw": shown["results"][0]["redacted"]}
            for mode, key in keys.items():
                chat = OpenAI(base_url=f"{server.url}/v1", api_key=key).chat.completions
                messages: Any = [{"role": "user", "content": prompt}]
                whole = chat.create(model="smollm2-135m-instruct", temperature=0, max_tokens=40,
                                    messages=messages).choices[0].message.content
                stream = chat.create(model="smollm2-135m-instruct", temperature=0,
                                     max_tokens=40, messages=messages, stream=True)
                streamed = "".join(c.choices[0].delta.content or "" for c in stream
                                   if c.choices)
                replies[mode] = {"whole": whole, "streamed": streamed}
        finally:
            server.stop()
    return replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "pii_test.jsonl")
    parser.add_argument("--only", choices=("accuracy", "latency", "chat"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=50, help="calls per server per round")
    parser.add_argument("--errors", action="store_true", help="list misses and false positives")
    args = parser.parse_args()
    rows = load(args.data)
    report: dict[str, Any] = {"data": str(args.data)}
    if args.only in (None, "accuracy"):
        report["accuracy"] = accuracy(rows, args.threads)
        _print_accuracy(report["accuracy"], args.errors)
    if args.only in (None, "latency"):
        report["latency"] = latency(rows, args.threads, args.rounds, args.calls)
        print(json.dumps(report["latency"], indent=1))
    if args.only in (None, "chat"):
        report["chat"] = round_trip(args.threads)
        print(json.dumps(report["chat"], indent=1))
    out = HERE / "results" / f"pii-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"written: {out}")


def _print_accuracy(result: dict[str, Any], errors: bool) -> None:
    print(f"{'type':15} {'gold':>5} {'recall':>7} {'precision':>9}  target")
    for type_, row in result["per_type"].items():
        recall = "-" if row["recall"] is None else f"{row['recall']:.3f}"
        precision = "-" if row["precision"] is None else f"{row['precision']:.3f}"
        target = TARGETS.get(type_)
        mark = "" if target is None or row["recall"] is None else (
            f"recall >= {target}: {'met' if row['recall'] >= target else 'NOT met'}")
        print(f"{type_:15} {row['gold']:>5} {recall:>7} {precision:>9}  {mark}")
    print(f"overall precision {result['precision_overall']:.3f} (target 0.90), "
          f"recall {result['recall_overall']:.3f}")
    if errors:
        print("\n".join(result["errors"]))


if __name__ == "__main__":
    main()
