"""Precision and recall of the PII name recogniser (``aiaas.privacy.ner_model``) for PERSON and
LOCATION on the dev set, ``bench/data/pii_dev.jsonl`` (the only set to tune on).

A gold entity is found when a predicted span of its type overlaps it; a predicted span is a
false positive when it overlaps no gold entity of its type.

    .venv/bin/python bench/ner_dev.py                  # builds the model first if not cached
    .venv/bin/python bench/ner_dev.py --errors         # also list misses and false positives
    .venv/bin/python bench/ner_dev.py --model-dir DIR  # a model saved by ner_model.build
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from aiaas.privacy.ner_model import NameRecognizer, Span, ensure

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "bench" / "data" / "pii_dev.jsonl"
TYPES = ("PERSON", "LOCATION")


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def score(records: list[dict], predictions: list[list[Span]], errors: bool) -> dict[str, dict[str, float]]:
    counts = {kind: {"gold": 0, "found": 0, "predicted": 0, "false_pos": 0} for kind in TYPES}
    for record, spans in zip(records, predictions, strict=True):
        text = record["text"]
        gold = [e for e in record["entities"] if e["type"] in TYPES]
        for entity in gold:
            c = counts[entity["type"]]
            c["gold"] += 1
            if any(s.type == entity["type"] and _overlaps(s.start, s.end, entity["start"], entity["end"])
                   for s in spans):
                c["found"] += 1
            elif errors:
                print(f"MISS {record['id']} {entity['type']:8} {text[entity['start']:entity['end']]!r}")
        for span in spans:
            c = counts[span.type]
            c["predicted"] += 1
            if not any(e["type"] == span.type and _overlaps(span.start, span.end, e["start"], e["end"])
                       for e in gold):
                c["false_pos"] += 1
                if errors:
                    print(f"FP   {record['id']} {span.type:8} {text[span.start:span.end]!r} {span.score:.2f}")
    return {kind: {"recall": c["found"] / max(1, c["gold"]),
                   "precision": 1 - c["false_pos"] / max(1, c["predicted"]), **c}
            for kind, c in counts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="default: build or reuse under --compiled-dir")
    parser.add_argument("--compiled-dir", type=Path, default=ROOT / ".cache-compiled")
    parser.add_argument("--errors", action="store_true", help="list misses and false positives")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model_dir = args.model_dir or ensure(args.compiled_dir,
                                         lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr))
    recognizer = NameRecognizer.load(model_dir)
    records = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    started = time.perf_counter()
    predictions = recognizer.find([r["text"] for r in records])
    batch_ms = (time.perf_counter() - started) * 1000
    single = []
    for record in records:
        t0 = time.perf_counter()
        recognizer.find([record["text"]])
        single.append((time.perf_counter() - t0) * 1000)
    results = score(records, predictions, args.errors)
    print(f"model {model_dir}")
    for kind, r in results.items():
        print(f"{kind:9} precision {r['precision']:.3f}  recall {r['recall']:.3f}  "
              f"(gold {r['gold']}, found {r['found']}, predicted {r['predicted']}, "
              f"false positives {r['false_pos']})")
    words = statistics.mean(len(r["text"].split()) for r in records)
    print(f"latency: {len(records)} texts in one call {batch_ms:.0f} ms; one text per call median "
          f"{statistics.median(single):.1f} ms (mean {words:.0f} words per text)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
