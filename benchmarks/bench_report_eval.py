"""Score the report findings pipeline against the annotated report sentences.

The gold set is tests/modality/data/report_sentences.jsonl (format and annotation rules in the README
next to it). Each item's text goes through ``workbench.modality.report.process_report``, and the
predicted findings are matched to the gold findings of the same item.

Matching rule: within one item, findings are a multiset of (name, status) pairs. For each finding
name, predicted and gold mentions with the same status pair up one to one and count as true positives
of that status. Every gold mention left unpaired is a false negative of its status, and every predicted
mention left unpaired is a false positive of its status. So a finding predicted with the wrong status
counts as a miss for the gold status and a false positive for the predicted status. Precision, recall
and F1 are computed per status from these counts, and "overall" sums the counts of the three statuses
(micro average). The "detection" row ignores the status and matches by name only.

Only the 16 finding names that the gold set annotates are scored. The pipeline's vocabulary has more
names (for example "lymph node", "ascites", "opacity"), and a predicted finding with such a name is left
out of the counts and listed under "not scored", because the gold set does not say whether it is right.

``--negspacy`` scores the plain negspacy pipeline of bench_report_speed.py instead, as a reference. It
finds the finding terms and a negated flag only, so it labels every finding negated or present and
never uncertain.

The scores are printed, never checked against a limit. Without ``workbench.modality.report`` the
script prints that it is missing and exits with status 0.

Run: ``.venv/bin/python benchmarks/bench_report_eval.py [--errors] [--json] [--data PATH]``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "tests" / "modality" / "data" / "report_sentences.jsonl"
STATUSES = ("negated", "uncertain", "present")
PIPELINE_MODULE = "workbench.modality.report"
# The finding names annotated in the gold set. Its README lists the same names and the annotation rules.
ANNOTATED_NAMES = frozenset({
    "atelectasis", "cardiomegaly", "consolidation", "fracture", "hernia", "lesion", "lymphadenopathy",
    "mass", "nodule", "pleural effusion", "pneumonia", "pneumothorax", "pulmonary edema", "stricture",
    "ulcer", "wall thickening",
})


# Scoring ---------------------------------------------------------------------------------------------


@dataclass
class Counts:
    """True positives, false positives and false negatives of one status or of all statuses."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def to_dict(self) -> dict[str, Any]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        f1 = (2 * self.tp / (2 * self.tp + self.fp + self.fn)) if self.tp + self.fp + self.fn else None
        return {"precision": precision, "recall": recall, "f1": f1, "tp": self.tp, "fp": self.fp,
                "fn": self.fn, "gold": self.tp + self.fn, "predicted": self.tp + self.fp}


def match_item(gold: Iterable[tuple[str, str]], predicted: Iterable[tuple[str, str]],
               ) -> tuple[dict[str, Counts], list[dict[str, Any]]]:
    """Match one item's (name, status) findings and return the counts per status and the errors.

    Paired mentions cancel out of the two multisets (``Counter`` subtraction). An error is "wrong status"
    when the same name is left over on both sides, "missed" when only the gold side has it and
    "spurious" when only the prediction has it.
    """
    gold_counts, predicted_counts = Counter(gold), Counter(predicted)
    matched = gold_counts & predicted_counts
    missed = gold_counts - predicted_counts
    spurious = predicted_counts - gold_counts

    counts = {status: Counts() for status in STATUSES}
    for (_, status), number in matched.items():
        counts[status].tp += number
    for (_, status), number in missed.items():
        counts[status].fn += number
    for (_, status), number in spurious.items():
        counts[status].fp += number

    errors = []
    for name in sorted({name for name, _ in missed} | {name for name, _ in spurious}):
        gold_left = [status for (left_name, status) in missed.elements() if left_name == name]
        predicted_left = [status for (left_name, status) in spurious.elements() if left_name == name]
        # Leftovers of the same name on both sides are one mention with the wrong status.
        for gold_status, predicted_status in zip(gold_left, predicted_left, strict=False):
            errors.append({"kind": "wrong status", "name": name, "gold": gold_status,
                           "predicted": predicted_status})
        paired = min(len(gold_left), len(predicted_left))
        errors.extend({"kind": "missed", "name": name, "gold": status, "predicted": None}
                      for status in gold_left[paired:])
        errors.extend({"kind": "spurious", "name": name, "gold": None, "predicted": status}
                      for status in predicted_left[paired:])
    return counts, errors


def score(items: list[dict[str, Any]], predict: Callable[[str], list[tuple[str, str]]]) -> dict[str, Any]:
    """Run ``predict`` on every item and return the scores per status, overall, per study and the errors."""
    totals = {status: Counts() for status in STATUSES}
    detection = Counts()
    per_study: dict[str, Counts] = {}
    not_scored: Counter[str] = Counter()
    errors = []

    start = time.perf_counter()
    for item in items:
        gold = [(finding["name"], finding["status"]) for finding in item["findings"]]
        predicted = []
        for name, status in predict(item["text"]):
            if name in ANNOTATED_NAMES:
                predicted.append((name, status))
            else:
                not_scored[name] += 1
        counts, item_errors = match_item(gold, predicted)
        name_counts, _ = match_item([(name, "present") for name, _ in gold],
                                    [(name, "present") for name, _ in predicted])

        study = per_study.setdefault(item.get("study", "unknown"), Counts())
        for status in STATUSES:
            totals[status].add(counts[status])
            study.add(counts[status])
        detection.add(name_counts["present"])
        errors.extend({"id": item["id"], "text": item["text"], **error} for error in item_errors)
    seconds = time.perf_counter() - start

    overall = Counts()
    for status in STATUSES:
        overall.add(totals[status])
    return {
        "items": len(items),
        "seconds": seconds,
        "scores": {**{status: totals[status].to_dict() for status in STATUSES},
                   "overall": overall.to_dict(), "detection": detection.to_dict()},
        "per_study": {study: counts.to_dict() for study, counts in sorted(per_study.items())},
        "not_scored": dict(not_scored.most_common()),
        "errors": errors,
    }


# Pipeline --------------------------------------------------------------------------------------------


def load_items(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def pipeline_predictor() -> Callable[[str], list[tuple[str, str]]]:
    """Return a function that maps a text to the (name, status) pairs that ``process_report`` finds."""
    module = importlib.import_module(PIPELINE_MODULE)

    def predict(text: str) -> list[tuple[str, str]]:
        record = module.process_report(text)
        return [(finding.name, finding.status) for finding in record.findings]

    return predict


def negspacy_predictor() -> Callable[[str], list[tuple[str, str]]]:
    """Return a function that maps a text to (name, status) pairs from the plain negspacy pipeline."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_report_speed import build_negspacy

    nlp = build_negspacy()

    def predict(text: str) -> list[tuple[str, str]]:
        return [(entity.ent_id_, "negated" if entity._.negex else "present") for entity in nlp(text).ents]

    return predict


def machine_info() -> dict[str, Any]:
    """Return the platform and the versions of Python, spaCy and negspacy."""
    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    for package in ("spacy", "negspacy"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = "not installed"
    return info


# Output ----------------------------------------------------------------------------------------------


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_table(result: dict[str, Any], show_errors: bool) -> None:
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in result["machine"].items()))
    print(f"Pipeline: {result['pipeline']}")
    print(f"Data: {result['items']} items from {result['data']}, scored in {result['seconds']:.2f} s\n")

    header = f"{'status':<18} {'precision':>9} {'recall':>8} {'F1':>7} {'TP':>5} {'FP':>5} {'FN':>5} {'gold':>5}"
    print(header)
    print("-" * len(header))
    for label, row in {**result["scores"], **{f"  {key}": value for key, value in result["per_study"].items()}
                       }.items():
        if label == "detection":
            print("-" * len(header))
        print(f"{label:<18} {_format(row['precision']):>9} {_format(row['recall']):>8} {_format(row['f1']):>7} "
              f"{row['tp']:>5} {row['fp']:>5} {row['fn']:>5} {row['gold']:>5}")
    print("\ndetection matches by name only. The indented rows are the overall scores per study type.")
    not_scored = ", ".join(f"{name} {count}" for name, count in result["not_scored"].items())
    print(f"Predicted findings with names the gold set does not annotate, not scored: {not_scored or 'none'}")
    print(f"Errors: {len(result['errors'])}" + ("" if show_errors else " (list them with --errors)"))

    if show_errors:
        for error in result["errors"]:
            print(f"  {error['id']} {error['kind']:<12} {error['name']:<16} gold={error['gold']} "
                  f"predicted={error['predicted']}: {error['text']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="JSON Lines file of annotated sentences (default: the set under tests/)")
    parser.add_argument("--errors", action="store_true", help="list every missed, spurious or wrong-status finding")
    parser.add_argument("--negspacy", action="store_true",
                        help="score the plain negspacy pipeline (blank en, entity_ruler, negex) instead")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    if args.negspacy:
        predictor, scored = negspacy_predictor(), "negspacy: blank en, sentencizer, entity_ruler, negex"
    elif importlib.util.find_spec(PIPELINE_MODULE) is None:
        print(f"{PIPELINE_MODULE} is not available yet, so there is nothing to score.")
        return 0
    else:
        predictor, scored = pipeline_predictor(), f"{PIPELINE_MODULE}.process_report"

    result = {"machine": machine_info(), "pipeline": scored, "data": str(args.data),
              **score(load_items(args.data), predictor)}
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result, args.errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
