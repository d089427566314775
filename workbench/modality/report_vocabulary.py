"""Vocabulary of a radiology report pipeline: findings, anatomy, ConText cue phrases and terminators.

The default vocabulary is the JSON file ``vocabularies/report_vocabulary.json`` next to this module. A user
file with the same layout, passed as ``vocabulary=`` or named by the ``WORKBENCH_REPORT_VOCABULARY``
environment variable, is merged into it: its synonyms are added to the default ones, so a user extends the
vocabulary without changing code.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, ValidationError

#: Environment variable naming a user vocabulary file merged into the default one.
VOCABULARY_VARIABLE = "WORKBENCH_REPORT_VOCABULARY"

DEFAULT_VOCABULARY_PATH = Path(__file__).with_name("vocabularies") / "report_vocabulary.json"

#: ConText cue categories. ``pseudo`` cues contain a negation word but negate nothing ("no change").
CUE_CATEGORIES = ("negated", "uncertain", "historical", "unchanged", "pseudo")
CUE_DIRECTIONS = ("forward", "backward", "bidirectional")


@dataclass(frozen=True)
class Vocabulary:
    """Phrases the report pipeline matches, merged from the default and an optional user file.

    Attributes
    ----------
    findings : dict
        Canonical finding name to its synonyms.
    anatomy : tuple of dict
        Entries with ``organ``, optional ``lobe``, ``segment`` and ``laterality``, and ``synonyms``.
    cues : dict
        Cue category to direction to phrases, with the categories of :data:`CUE_CATEGORIES`.
    terminators : tuple of str
        Phrases that end the scope of every cue ("but", "however").
    laterality : dict
        ``left``, ``right`` and ``bilateral`` to their phrases.
    size_qualifiers : dict
        Qualifier ("small", "moderate") to its phrases.
    abbreviations : tuple of str
        Abbreviations ending in a full stop that do not end a sentence ("approx.").
    modalities, body_regions : dict
        Imaging modality ("CT", "radiography") and body region ("chest") to the phrases that name it in a
        report. Read by :func:`workbench.modality.study.process_study`, not by the findings pipeline.
    modality_codes, body_part_codes : dict
        Modality and body region to the DICOM Modality and BodyPartExamined values that agree with it.
    organ_regions, finding_regions : dict
        Anatomy organ and finding name to the body regions it lies in.
    source : str
        Paths the vocabulary was read from, joined by ``" + "``.
    """

    findings: dict[str, tuple[str, ...]]
    anatomy: tuple[dict[str, Any], ...]
    cues: dict[str, dict[str, tuple[str, ...]]]
    terminators: tuple[str, ...]
    laterality: dict[str, tuple[str, ...]]
    size_qualifiers: dict[str, tuple[str, ...]]
    abbreviations: tuple[str, ...]
    source: str
    modalities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    modality_codes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    body_regions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    body_part_codes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    organ_regions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    finding_regions: dict[str, tuple[str, ...]] = field(default_factory=dict)


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Read the default vocabulary and merge the user file ``path`` into it.

    Parameters
    ----------
    path : str or Path, optional
        User vocabulary file (JSON, same layout as the default file, every key optional). When None, the
        file named by ``WORKBENCH_REPORT_VOCABULARY`` is used if that variable is set and not empty.

    Raises
    ------
    ConfigError
        The environment variable names a file that does not exist.
    ValidationError
        A file is not found, is not valid JSON or has the wrong layout.
    """
    return _load_cached(*vocabulary_key(path))


def vocabulary_key(path: str | Path | None = None) -> tuple[str, float | None]:
    """Return the resolved user vocabulary path ("" for none) and its modification time, as a cache key.

    The modification time is part of the key so that an edited user file is read again.
    """
    if path is None:
        value = os.environ.get(VOCABULARY_VARIABLE, "").strip()
        if value and not Path(value).is_file():
            raise ConfigError(f"{VOCABULARY_VARIABLE} names {value!r}, which is not a file; set it to a JSON "
                              "vocabulary file or unset it.", name=VOCABULARY_VARIABLE, value=value)
        path = value or None
    if path is None:
        return "", None
    resolved = str(Path(path).resolve())
    try:
        return resolved, os.stat(resolved).st_mtime
    except FileNotFoundError as error:
        raise ValidationError(f"Vocabulary file {Path(path).name!r} not found; pass an existing JSON file.",
                              field="vocabulary", value=str(path)) from error


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float | None) -> Vocabulary:
    data = _read_json(DEFAULT_VOCABULARY_PATH)
    sources = [str(DEFAULT_VOCABULARY_PATH)]
    if path:
        _merge(data, _read_json(Path(path)), Path(path).name)
        sources.append(path)
    return Vocabulary(
        findings={name: tuple(words) for name, words in data["findings"].items()},
        anatomy=tuple(data["anatomy"]),
        cues={category: {direction: tuple(data["cues"].get(category, {}).get(direction, ()))
                         for direction in CUE_DIRECTIONS} for category in CUE_CATEGORIES},
        terminators=tuple(data["terminators"]),
        laterality={side: tuple(words) for side, words in data["laterality"].items()},
        size_qualifiers={size: tuple(words) for size, words in data["size_qualifiers"].items()},
        abbreviations=tuple(data["abbreviations"]),
        source=" + ".join(sources),
        **{key: {label: tuple(words) for label, words in data.get(key, {}).items()} for key in _STUDY_KEYS},
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValidationError(f"Vocabulary file {path.name!r} is not valid JSON: {error}; fix the file.",
                              field="vocabulary", value=str(path)) from error
    if not isinstance(data, dict):
        raise ValidationError(f"Vocabulary file {path.name!r} is not a JSON object (got a JSON "
                              f"{type(data).__name__}); write an object with keys such as 'findings' and "
                              "'cues'.", field="vocabulary", value=str(path))
    return data


# Keys read by the study checks of workbench.modality.study, each a mapping of a label to strings.
_STUDY_KEYS = ("modalities", "modality_codes", "body_regions", "body_part_codes", "organ_regions",
               "finding_regions")
_MAPPING_KEYS = ("findings", "laterality", "size_qualifiers", *_STUDY_KEYS)
_LIST_KEYS = ("anatomy", "terminators", "abbreviations")


def _merge(base: dict[str, Any], extra: dict[str, Any], name: str) -> None:
    """Add the phrases of ``extra`` to ``base`` in place: synonyms are appended, new names are added."""
    unknown = sorted(set(extra) - set(_MAPPING_KEYS) - set(_LIST_KEYS) - {"cues"})
    if unknown:
        allowed = ", ".join((*_MAPPING_KEYS, *_LIST_KEYS, "cues"))
        raise ValidationError(f"Vocabulary file {name!r} has unknown keys {unknown}; allowed keys: "
                              f"{allowed}.", field="vocabulary", value=unknown)
    for key in _MAPPING_KEYS:
        for label, words in _mapping(extra, key, name).items():
            base[key].setdefault(label, [])
            base[key][label] = base[key][label] + _phrases(words, f"{key}.{label}", name)
    for key in _LIST_KEYS:
        items = extra.get(key, [])
        if not isinstance(items, list):
            raise ValidationError(f"Vocabulary file {name!r}: {key!r} must be a list.", field="vocabulary",
                                  value=key)
        base[key] = base[key] + copy.deepcopy(items)
    for category, directions in _mapping(extra, "cues", name).items():
        if category not in CUE_CATEGORIES or not isinstance(directions, dict):
            raise ValidationError(f"Vocabulary file {name!r}: cue category {category!r} is not one of "
                                  f"{CUE_CATEGORIES} or does not map directions to phrases.",
                                  field="vocabulary", value=category)
        for direction, words in directions.items():
            if direction not in CUE_DIRECTIONS:
                raise ValidationError(f"Vocabulary file {name!r}: cue direction {direction!r} is not one of "
                                      f"{CUE_DIRECTIONS}.", field="vocabulary", value=direction)
            target = base["cues"].setdefault(category, {}).setdefault(direction, [])
            target.extend(_phrases(words, f"cues.{category}.{direction}", name))


def _mapping(data: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValidationError(f"Vocabulary file {name!r}: {key!r} must be a JSON object.", field="vocabulary",
                              value=key)
    return value


def _phrases(words: Any, where: str, name: str) -> list[str]:
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise ValidationError(f"Vocabulary file {name!r}: {where} must be a list of strings.",
                              field="vocabulary", value=where)
    return list(words)
