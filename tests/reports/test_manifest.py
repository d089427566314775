"""Tests of the run manifest."""

from __future__ import annotations

from datetime import UTC, datetime

from workbench.reports.manifest import build_manifest


def make_manifest(tmp_path, parameters, overrides=()):
    moment = datetime(2026, 9, 7, tzinfo=UTC)
    notebook = tmp_path / "report.ipynb"
    notebook.write_text("{}")
    return build_manifest(notebook=notebook, kernel_name="python3", parameters=parameters, overrides=overrides,
                          started_at=moment, finished_at=moment, duration_seconds=0.0, error=None,
                          output_dir=tmp_path, outputs={})


def test_manifest_masks_url_password(tmp_path):
    manifest = make_manifest(tmp_path, {"store_url": "mongodb://reader:s3cret@127.0.0.1:27017/workbench"})
    assert manifest["parameters"]["store_url"] == "mongodb://reader:***@127.0.0.1:27017/workbench"


def test_manifest_masks_nested_url_password(tmp_path):
    parameters = {
        "mirrors": ["mongodb://reader:s3cret@127.0.0.1:27017/a", "sqlite:///local.db"],
        "stores": {"main": "mongodb://reader:s3cret@127.0.0.1:27017/b"},
    }

    manifest = make_manifest(tmp_path, parameters)

    assert manifest["parameters"]["mirrors"] == ["mongodb://reader:***@127.0.0.1:27017/a", "sqlite:///local.db"]
    assert manifest["parameters"]["stores"] == {"main": "mongodb://reader:***@127.0.0.1:27017/b"}


def test_manifest_keeps_plain_values(tmp_path):
    manifest = make_manifest(tmp_path, {"alpha": 0.01, "window": "last:600"})
    assert manifest["parameters"] == {"alpha": 0.01, "window": "last:600"}


def test_manifest_lists_overrides(tmp_path):
    manifest = make_manifest(tmp_path, {"alpha": 0.01, "window": "last:600"}, overrides=("window",))
    assert manifest["overrides"] == ["window"]


def test_manifest_outside_git_has_no_commit(tmp_path):
    manifest = make_manifest(tmp_path, {})
    assert manifest["git_commit"] is None
