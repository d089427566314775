"""Time the report findings pipeline against a plain negspacy pipeline on synthetic reports.

A seeded generator builds the reports (2,000 by default, about 100 words each) from the sentence
templates below. Each report has an indication, a comparison line, a findings section and a numbered
impression, with negated, uncertain and present findings, sizes and laterality. Every step gets the
same reports, one ``nlp(text)`` or ``process_report(text)`` call per report:

- (a) ``workbench.modality.report.process_report``: sections, findings, status, anatomy, measurements.
- (b) negspacy 1.1.0 on a blank English spaCy pipeline: ``sentencizer``, an ``entity_ruler`` with the
  finding terms of the templates (case-insensitive token patterns, label FINDING), and ``negex`` with
  its default "en_clinical" termset. It finds the terms and a negated flag only.
- (c) the tokenizer of a blank English spaCy pipeline alone. The full pipeline (a) replaces it with
  ``workbench.modality.report_tokenizer.ReportTokenizer``, so (c) shows what that replacement saves.

Every figure is the median of ``--repeats`` runs after one untimed warm-up run, with the runs of (a)
to (c) interleaved so that load from other processes slows all steps alike. The process is pinned to one
CPU (``--cpu``) where the platform allows it. The target for (a) is at least 2,000 reports/s on one core
and at least half the rate of (b). The script prints the figures and never checks them.
Without ``workbench.modality.report`` only (b) and (c) are timed.

Run: ``.venv/bin/python benchmarks/bench_report_speed.py [--reports N] [--repeats R] [--cpu C] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import spacy

SEED = 20_261_205
PIPELINE_MODULE = "workbench.modality.report"
TARGET_WORDS = 100
TARGET_REPORTS_PER_SECOND = 2_000

# Finding terms and their canonical names. The templates use the first term of each name, and the
# negspacy entity ruler gets all of them, so that bench_report_eval.py can score negspacy too.
FINDING_TERMS = {
    "pleural effusion": "pleural effusion", "pleural effusions": "pleural effusion", "effusion": "pleural effusion",
    "effusions": "pleural effusion", "pneumothorax": "pneumothorax", "consolidation": "consolidation",
    "nodule": "nodule", "nodules": "nodule", "mass": "mass", "masses": "mass",
    "pulmonary edema": "pulmonary edema", "pulmonary oedema": "pulmonary edema", "cardiomegaly": "cardiomegaly",
    "atelectasis": "atelectasis", "fracture": "fracture", "fractures": "fracture",
    "lymphadenopathy": "lymphadenopathy", "adenopathy": "lymphadenopathy", "wall thickening": "wall thickening",
    "stricture": "stricture", "strictures": "stricture", "ulcer": "ulcer", "ulcers": "ulcer",
    "hiatal hernia": "hernia", "hernia": "hernia", "pneumonia": "pneumonia", "lesion": "lesion", "lesions": "lesion",
}
CHEST = ("pleural effusion", "pneumothorax", "consolidation", "pulmonary edema", "atelectasis", "pneumonia")
SIZED = ("nodule", "mass", "lesion", "lymphadenopathy")
OTHER = ("fracture", "wall thickening", "stricture", "ulcer", "hiatal hernia", "cardiomegaly")
SIDES = ("left", "right")
LOBES = ("upper lobe", "middle lobe", "lower lobe")
QUALIFIERS = ("small", "moderate", "large", "mild", "trace")

INDICATIONS = (
    "INDICATION: Shortness of breath, evaluate for {chest}.",
    "HISTORY: Cough and fever. Rule out {chest}.",
    "INDICATION: Follow-up of known {sized}.",
    "CLINICAL HISTORY: Dysphagia, assess for {other}.",
)
COMPARISONS = ("COMPARISON: Prior study.", "COMPARISON: None.", "COMPARISON: Radiograph from the prior visit.")
FINDING_SENTENCES = (
    "No {chest}.",
    "There is no {chest} or {chest2}.",
    "No {chest}, {chest2}, or {other}.",
    "A {qualifier} {side} {chest} is present.",
    "{Qualifier} {side} {chest}, unchanged from the prior study.",
    "No {chest}, but there is a {qualifier} {side} {chest2}.",
    "Possible {qualifier} {chest} at the {side} base.",
    "{Chest} cannot be excluded.",
    "Patchy opacity in the {side} {lobe} may represent {chest}.",
    "{Sized} in the {side} {lobe} measuring {size}.",
    "A {mm}mm {sized} in the {side} {lobe}.",
    "The {sized} measures {size} (previously {prior}).",
    "No change in the {qualifier} {chest}.",
    "The previously seen {chest} has resolved.",
    "Questionable {sized} in the {side} {lobe}.",
    "{Other} is not seen.",
    "{Qualifier} {other} without {chest}.",
    "The heart size is normal and the mediastinum is unremarkable.",
    "Support devices are in standard position.",
    "Degenerative changes of the thoracic spine.",
)
IMPRESSIONS = (
    "{number}. No {chest}.",
    "{number}. {Qualifier} {side} {chest}.",
    "{number}. {Sized} in the {side} {lobe}, suspicious for malignancy.",
    "{number}.No acute cardiopulmonary process.",
    "{number}. {Other} cannot be excluded.",
)


# Reports ---------------------------------------------------------------------------------------------


def _fill(template: str, rng: random.Random, number: int = 1) -> str:
    values = {
        "chest": rng.choice(CHEST), "chest2": rng.choice(CHEST), "sized": rng.choice(SIZED),
        "other": rng.choice(OTHER), "side": rng.choice(SIDES), "lobe": rng.choice(LOBES),
        "qualifier": rng.choice(QUALIFIERS), "mm": rng.randint(3, 15), "number": number,
        "size": _size(rng), "prior": _size(rng),
    }
    for key in ("chest", "sized", "other", "qualifier"):
        values[key.capitalize()] = str(values[key]).capitalize()
    return template.format(**values)


def _size(rng: random.Random) -> str:
    """Return a size in one of the usual written forms: "1.2 cm", "12 x 8 mm", "1.2 x 0.9 x 1.1cm"."""
    dimensions = [f"{rng.uniform(0.3, 4.5):.1f}" for _ in range(rng.randint(1, 3))]
    separator = rng.choice((" x ", " × ", "x"))
    unit = rng.choice((" cm", "cm"))
    if rng.random() < 0.3:
        dimensions = [str(round(float(value) * 10)) for value in dimensions]
        unit = rng.choice((" mm", "mm"))
    return separator.join(dimensions) + unit


def make_reports(count: int, seed: int = SEED, target_words: int = TARGET_WORDS) -> list[str]:
    """Build ``count`` seeded synthetic reports of about ``target_words`` words each.

    Each report has an indication, a comparison, finding sentences until the report reaches the target
    length less the impression, and a numbered impression of two or three lines.
    """
    rng = random.Random(seed)
    reports = []
    for _ in range(count):
        head = [_fill(rng.choice(INDICATIONS), rng), rng.choice(COMPARISONS)]
        impression = ["IMPRESSION:"] + [_fill(rng.choice(IMPRESSIONS), rng, number)
                                        for number in range(1, rng.randint(3, 4))]
        findings = ["FINDINGS:"]
        words = sum(len(line.split()) for line in head + impression) + 1
        while words < target_words:
            sentence = _fill(rng.choice(FINDING_SENTENCES), rng)
            findings.append(sentence)
            words += len(sentence.split())
        reports.append("\n".join(head) + "\n" + " ".join(findings) + "\n" + "\n".join(impression))
    return reports


# Pipelines -------------------------------------------------------------------------------------------


def build_negspacy() -> spacy.language.Language:
    """Build the reference pipeline: blank English, sentencizer, entity ruler and negex (negspacy 1.1.0)."""
    import negspacy.negation  # noqa: F401  (registers the "negex" factory)

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler")
    # The pattern id carries the canonical name to ``entity.ent_id_``.
    ruler.add_patterns([{"label": "FINDING", "pattern": [{"LOWER": word} for word in term.split()], "id": name}
                        for term, name in FINDING_TERMS.items()])
    nlp.add_pipe("negex", config={"ent_types": ["FINDING"]})
    return nlp


def negspacy_runner(reports: list[str]) -> Callable[[], int]:
    nlp = build_negspacy()

    def run() -> int:
        negated = 0
        for text in reports:
            negated += sum(entity._.negex for entity in nlp(text).ents)
        return negated

    return run


def tokenizer_runner(reports: list[str]) -> Callable[[], int]:
    tokenizer = spacy.blank("en").tokenizer

    def run() -> int:
        return sum(len(tokenizer(text)) for text in reports)

    return run


def pipeline_runner(reports: list[str]) -> Callable[[], int]:
    module = importlib.import_module(PIPELINE_MODULE)

    def run() -> int:
        return sum(len(module.process_report(text).findings) for text in reports)

    return run


# Timing ----------------------------------------------------------------------------------------------


def time_interleaved(steps: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Time ``repeats`` rounds of one run per step, after one untimed run of each, and return the seconds."""
    for function in steps.values():
        function()
    seconds: dict[str, list[float]] = {label: [] for label in steps}
    for _ in range(repeats):
        for label, function in steps.items():
            gc.collect()
            start = time.perf_counter()
            function()
            seconds[label].append(time.perf_counter() - start)
    return seconds


def pin_to_cpu(cpu: int | None) -> list[int] | None:
    """Restrict this process to one CPU and return the CPUs it may run on, or None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[0] if cpu is None else cpu
    if chosen not in allowed:
        raise SystemExit(f"--cpu {chosen} is invalid because this process may run only on CPUs {allowed}. Choose one of them.")
    os.sched_setaffinity(0, {chosen})
    return sorted(os.sched_getaffinity(0))


def machine_info(cpus: list[int] | None) -> dict[str, Any]:
    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "pinned_cpus": cpus, "platform": platform.platform(),
                            "python": platform.python_version(), "spacy": spacy.__version__,
                            "negspacy": importlib.metadata.version("negspacy")}
    # Other processes slow the runs, and a load average near the core count shows that they ran.
    info["load_average_1min"] = round(os.getloadavg()[0], 2)
    return info


def run(count: int, repeats: int, cpu: int | None) -> dict[str, Any]:
    cpus = pin_to_cpu(cpu)
    reports = make_reports(count)
    words = [len(text.split()) for text in reports]
    labels = {"a": "(a) workbench process_report, full pipeline",
              "b": "(b) negspacy: blank en, sentencizer, entity_ruler, negex",
              "c": "(c) spaCy blank en tokenizer alone"}

    steps = {labels["b"]: negspacy_runner(reports), labels["c"]: tokenizer_runner(reports)}
    pipeline_available = importlib.util.find_spec(PIPELINE_MODULE) is not None
    if pipeline_available:
        steps = {labels["a"]: pipeline_runner(reports), **steps}

    timings = {}
    for label, seconds in time_interleaved(steps, repeats).items():
        median = statistics.median(seconds)
        timings[label] = {"median_s": median, "min_s": min(seconds), "max_s": max(seconds),
                          "reports_per_s": count / median}
    if not pipeline_available:
        timings[labels["a"]] = {"status": f"{PIPELINE_MODULE} is not available"}

    ratio = None
    if pipeline_available:
        ratio = timings[labels["a"]]["reports_per_s"] / timings[labels["b"]]["reports_per_s"]
    return {
        "machine": machine_info(cpus),
        "options": {"reports": count, "repeats": repeats, "seed": SEED},
        "words_per_report": {"mean": statistics.fmean(words), "min": min(words), "max": max(words)},
        "timings": timings,
        "ratio_a_to_b": ratio,
        "targets": {"a_reports_per_s": TARGET_REPORTS_PER_SECOND, "ratio_a_to_b": 0.5},
    }


def print_table(result: dict[str, Any]) -> None:
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in result["machine"].items()))
    words, options = result["words_per_report"], result["options"]
    print(f"Data: {options['reports']:,} synthetic reports, {words['mean']:.0f} words on average "
          f"({words['min']}-{words['max']}), seed {options['seed']}")
    print(f"Repeats: {options['repeats']}, median after one warm-up run, runs of the steps interleaved\n")

    header = f"{'step':<60} {'median s':>9} {'min s':>8} {'max s':>8} {'reports/s':>10}"
    print(header)
    print("-" * len(header))
    for label, timing in result["timings"].items():
        if "median_s" not in timing:
            print(f"{label:<60} {timing['status']}")
            continue
        print(f"{label:<60} {timing['median_s']:>9.3f} {timing['min_s']:>8.3f} {timing['max_s']:>8.3f} "
              f"{timing['reports_per_s']:>10,.0f}")
    print()
    ratio = result["ratio_a_to_b"]
    print("Rate of (a) / rate of (b): " + ("n/a" if ratio is None else f"{ratio:.2f}") + " (target at least 0.5)")
    print(f"Target for (a): at least {TARGET_REPORTS_PER_SECOND:,} reports/s on one core")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid. Use a whole number of at least 1.")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=positive_int, default=2_000,
                        help="number of synthetic reports (default 2000)")
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="timed runs of each pipeline over all reports; the median is printed (default 5)")
    parser.add_argument("--cpu", type=int, default=None,
                        help="CPU number to pin the process to (default: the first CPU it may run on)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    result = run(args.reports, args.repeats, args.cpu)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
