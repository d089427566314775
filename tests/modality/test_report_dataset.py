"""Checks of the annotated report sentences in data/report_sentences.jsonl.

These tests read the file only and do not need the report pipeline. The format and the annotation
rules are in data/README.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

DATA_PATH = Path(__file__).parent / "data" / "report_sentences.jsonl"
FINDING_NAMES = frozenset({
    "atelectasis", "cardiomegaly", "consolidation", "fracture", "hernia", "lesion", "lymphadenopathy",
    "mass", "nodule", "pleural effusion", "pneumonia", "pneumothorax", "pulmonary edema", "stricture",
    "ulcer", "wall thickening",
})
STATUSES = frozenset({"present", "negated", "uncertain"})
STUDIES = frozenset({"chest_xray", "chest_ct", "abdominal_ct_us", "oesophageal"})
# Target share of all mentions per status and the allowed deviation, 5 percentage points.
STATUS_SHARES = {"negated": 0.35, "uncertain": 0.20, "present": 0.45}
SHARE_TOLERANCE = 0.05
# Hard cases that the set must contain, as a case-insensitive pattern and the minimum number of items.
HARD_CASES = {
    "coordinated negation": (r"\bno\b[^.;]*,[^.;]*\bor\b", 3),
    "scope ended by but": (r"\bno\b[^.]*\bbut\b", 3),
    "scope ended by however": (r"\bno\b[^.]*\bhowever\b", 3),
    "pseudo-negation no change": (r"\bno (?:significant |interval )?change\b", 3),
    "pseudo-negation not only": (r"\bnot only\b", 2),
    "post-negation absent or not seen": (r"\b(?:is absent|is not seen|is not present|no longer seen)\b", 4),
    "resolved": (r"\b(?:has resolved|resolution of)\b", 4),
    "cannot be excluded": (r"\b(?:cannot be excluded|cannot exclude|not excluded|cannot be ruled out)\b", 5),
    "may represent": (r"\bmay represent\b", 5),
    "suspicious for": (r"\bsuspicious for\b", 5),
    "possible": (r"\bpossible\b", 4),
    "questionable": (r"\bquestionable\b", 3),
    "history of": (r"\bhistory of\b", 3),
    "status post": (r"\bstatus post\b", 3),
    "numbered line": (r"^\d+[.)]\s?\S", 4),
    "measurement": (r"\d(?:\.\d+)?\s?(?:mm|cm)\b", 20),
    "three-dimensional measurement": (r"\d\s?[x×]\s?\d[^ ]*\s?[x×]\s?\d", 2),
    "laterality": (r"\b(?:left|right|bilateral)\b", 30),
}


def load_lines() -> list[str]:
    return DATA_PATH.read_text(encoding="utf-8").splitlines()


def load_items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in load_lines()]


def mention_statuses() -> Counter[str]:
    return Counter(finding["status"] for item in load_items() for finding in item["findings"])


def test_dataset_lines_are_json_objects() -> None:
    for number, line in enumerate(load_lines(), start=1):
        item = json.loads(line)
        assert isinstance(item, dict), f"line {number} is not a JSON object"


def test_dataset_has_no_blank_lines() -> None:
    blank = [number for number, line in enumerate(load_lines(), start=1) if not line.strip()]
    assert blank == []


def test_dataset_has_at_least_200_items() -> None:
    assert len(load_items()) >= 200


def test_dataset_ids_are_unique() -> None:
    counts = Counter(item["id"] for item in load_items())
    duplicates = [identifier for identifier, count in counts.items() if count > 1]
    assert duplicates == []


def test_dataset_ids_have_expected_form() -> None:
    malformed = [item["id"] for item in load_items() if not re.fullmatch(r"s\d{3}", item["id"])]
    assert malformed == []


def test_dataset_items_have_exact_keys() -> None:
    wrong = [item.get("id") for item in load_items() if set(item) != {"id", "study", "text", "findings"}]
    assert wrong == []


def test_dataset_texts_are_nonempty_strings() -> None:
    empty = [item["id"] for item in load_items() if not isinstance(item["text"], str) or not item["text"].strip()]
    assert empty == []


def test_dataset_texts_are_unique() -> None:
    counts = Counter(item["text"] for item in load_items())
    duplicates = [text for text, count in counts.items() if count > 1]
    assert duplicates == []


def test_dataset_studies_are_known() -> None:
    unknown = [item["id"] for item in load_items() if item["study"] not in STUDIES]
    assert unknown == []


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_dataset_covers_study(study: str) -> None:
    count = sum(item["study"] == study for item in load_items())
    assert count >= 40


def test_dataset_findings_are_lists() -> None:
    wrong = [item["id"] for item in load_items() if not isinstance(item["findings"], list)]
    assert wrong == []


def test_dataset_findings_have_exact_keys() -> None:
    wrong = [item["id"] for item in load_items()
             for finding in item["findings"] if set(finding) != {"name", "status"}]
    assert wrong == []


def test_dataset_finding_names_are_allowed() -> None:
    unknown = [(item["id"], finding["name"]) for item in load_items()
               for finding in item["findings"] if finding["name"] not in FINDING_NAMES]
    assert unknown == []


def test_dataset_uses_every_finding_name() -> None:
    used = {finding["name"] for item in load_items() for finding in item["findings"]}
    assert sorted(FINDING_NAMES - used) == []


def test_dataset_statuses_are_valid() -> None:
    invalid = [(item["id"], finding["status"]) for item in load_items()
               for finding in item["findings"] if finding["status"] not in STATUSES]
    assert invalid == []


@pytest.mark.parametrize("status", sorted(STATUS_SHARES))
def test_dataset_status_share_near_target(status: str) -> None:
    counts = mention_statuses()
    share = counts[status] / sum(counts.values())
    assert abs(share - STATUS_SHARES[status]) <= SHARE_TOLERANCE, f"{status} share is {share:.3f}"


def test_dataset_has_sentences_without_findings() -> None:
    empty = [item["id"] for item in load_items() if not item["findings"]]
    assert len(empty) >= 20


@pytest.mark.parametrize("case", sorted(HARD_CASES))
def test_dataset_contains_hard_case(case: str) -> None:
    pattern, minimum = HARD_CASES[case]
    matches = [item["id"] for item in load_items() if re.search(pattern, item["text"], re.IGNORECASE)]
    assert len(matches) >= minimum, f"{case}: {len(matches)} items match {pattern!r}"


def test_dataset_resolved_is_annotated_negated() -> None:
    # The annotation rule in data/README.md: a finding that "has resolved" is absent on this study.
    wrong = [item["id"] for item in load_items()
             if re.search(r"\bhas resolved\b", item["text"], re.IGNORECASE)
             and not any(finding["status"] == "negated" for finding in item["findings"])]
    assert wrong == []


def test_dataset_has_no_dates() -> None:
    date = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
    dated = [item["id"] for item in load_items() if date.search(item["text"])]
    assert dated == []


def test_dataset_has_no_identifier_like_numbers() -> None:
    # Record numbers and accession numbers are long digit runs. No measurement needs more than four digits.
    long_numbers = [item["id"] for item in load_items() if re.search(r"\d{5,}", item["text"])]
    assert long_numbers == []


# The held-out set ---------------------------------------------------------------------------------

HELDOUT_PATH = Path(__file__).parent / "data" / "report_sentences_heldout.jsonl"


def load_heldout() -> list[dict[str, Any]]:
    return [json.loads(line) for line in HELDOUT_PATH.read_text(encoding="utf-8").splitlines()]


def test_heldout_has_160_items_with_h_ids() -> None:
    ids = [item["id"] for item in load_heldout()]
    assert len(ids) == 160
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"h\d{3}", item_id) for item_id in ids)


def test_heldout_items_follow_the_format() -> None:
    for item in load_heldout():
        assert set(item) == {"id", "study", "text", "findings"}, item["id"]
        assert item["study"] in STUDIES, item["id"]
        assert isinstance(item["text"], str) and item["text"].strip(), item["id"]
        for finding in item["findings"]:
            assert set(finding) == {"name", "status"}, item["id"]
            assert finding["name"] in FINDING_NAMES, item["id"]
            assert finding["status"] in STATUSES, item["id"]


def test_heldout_has_no_dates() -> None:
    dated = [item["id"] for item in load_heldout()
             if re.search(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b", item["text"])]
    assert dated == []
