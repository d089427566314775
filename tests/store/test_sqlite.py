"""Behaviour of the SQLite store beyond the contract: WAL mode, concurrent processes, URLs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from workbench.errors import ConfigError, StoreError
from workbench.store import SQLiteStore, mask_url, open_store

# Run by a separate interpreter: open the store and write BATCHES batches of BATCH_SIZE predictions,
# one insert call per batch.
WRITER = """
import sys
from datetime import UTC, datetime, timedelta

from workbench.store import open_store

url, batches, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
with open_store(url) as store:
    for batch in range(batches):
        rows = []
        for index in range(batch_size):
            number = batch * batch_size + index
            rows.append({
                "prediction_id": f"pred-{number:06d}",
                "model_id": "lesion-classifier:1",
                "timestamp": start + timedelta(seconds=number),
                "features": {"intensity": float(number)},
                "prediction": number % 2,
                "probability": [0.5, 0.5],
            })
        store.insert_predictions(rows)
"""

BATCHES = 200
BATCH_SIZE = 25

# Maximum number of read rounds, so the test ends even if the writer hangs. It is not a timing check.
MAX_READS = 100_000


def test_sqlite_file_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    SQLiteStore(path).close()

    # The journal mode is stored in the file, so a fresh connection reports it.
    with closing(sqlite3.connect(path)) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]

    assert mode == "wal"


def test_sqlite_reader_while_writer_process(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'shared.db').as_posix()}"
    reader = open_store(url)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(BATCHES), str(BATCH_SIZE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    counts = []
    try:
        for _ in range(MAX_READS):
            finished = writer.poll() is not None
            counts.append(reader.count_predictions("lesion-classifier:1"))
            newest = reader.fetch_predictions("lesion-classifier:1", last=BATCH_SIZE)
            # A batch is committed whole, so the newest rows read are always whole batches.
            assert len(newest) in (0, BATCH_SIZE)
            if finished:
                break
        _, errors = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    final = reader.count_predictions()
    reader.close()

    assert writer.returncode == 0, errors
    assert all(count % BATCH_SIZE == 0 for count in counts)
    assert counts == sorted(counts)
    assert final == BATCHES * BATCH_SIZE


def test_sqlite_creates_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "workbench.db"

    with SQLiteStore(path) as store:
        assert store.count_predictions() == 0

    assert path.is_file()


def test_sqlite_unwritable_location_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    with pytest.raises(StoreError, match="Could not open the SQLite store"):
        SQLiteStore(blocker / "workbench.db")


def test_sqlite_closed_store_raises(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "workbench.db")
    store.close()

    with pytest.raises(StoreError, match="Reading the SQLite store"):
        store.count_predictions()


def test_open_store_relative_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    relative = open_store("sqlite:///data/relative.db")
    absolute = open_store(f"sqlite:///{(tmp_path / 'absolute.db').as_posix()}")
    relative.close()
    absolute.close()

    assert (tmp_path / "data" / "relative.db").is_file()
    assert (tmp_path / "absolute.db").is_file()


def test_open_store_rejects_unknown_scheme() -> None:
    with pytest.raises(ConfigError, match="unsupported scheme 'postgresql'; supported: sqlite"):
        open_store("postgresql://reader:secret@127.0.0.1/workbench")


def test_open_store_masks_password_in_error() -> None:
    with pytest.raises(ConfigError) as excinfo:
        open_store("postgresql://reader:secret@127.0.0.1/workbench")

    assert "secret" not in str(excinfo.value)


def test_open_store_rejects_missing_path() -> None:
    with pytest.raises(ConfigError, match="has no database path"):
        open_store("sqlite:///")


def test_mask_url_without_password() -> None:
    assert mask_url("sqlite:///data/workbench.db") == "sqlite:///data/workbench.db"
