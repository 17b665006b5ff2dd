from __future__ import annotations

from pathlib import Path

import pytest

from customer_ml.dbt_plugin import summarize
from customer_ml.records import lineage, registry

BASE = dict(
    model_name="churn",
    code="c0",
    config_={"seed": 42, "validation_as_of_count": 2},
    hyperparameters={"learning_rate": 0.05},
    feature_version=1,
    label_version=1,
    snapshot_ids=["s1", "s2"],
)

CHANGES = {
    "code": "c1",
    "config_": {"seed": 43, "validation_as_of_count": 2},
    "hyperparameters": {"learning_rate": 0.1},
    "feature_version": 2,
    "label_version": 2,
    "snapshot_ids": ["s1", "s3"],
}


def test_same_inputs_same_version() -> None:
    assert lineage.model_version(**BASE) == lineage.model_version(**dict(BASE))
    reordered = dict(BASE, snapshot_ids=["s2", "s1"])
    assert lineage.model_version(**reordered) == lineage.model_version(**BASE)


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_any_change_gives_a_new_version(field: str) -> None:
    assert lineage.model_version(**dict(BASE, **{field: CHANGES[field]})) != lineage.model_version(
        **BASE
    )


def test_artifacts_are_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "run-1"
    shas = registry.write_artifacts(target, {"model.txt": b"abc"})
    assert shas["model.txt"] == lineage.sha256_file(target / "model.txt")
    with pytest.raises(FileExistsError, match="never overwritten"):
        registry.write_artifacts(target, {"model.txt": b"other"})
    assert (target / "model.txt").read_bytes() == b"abc"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]


def test_read_verified_refuses_altered_artifact(tmp_path: Path) -> None:
    target = tmp_path / "run-1"
    shas = registry.write_artifacts(target, {"model.txt": b"abc"})
    assert registry.read_verified(target / "model.txt", shas["model.txt"]) == b"abc"
    (target / "model.txt").write_bytes(b"abd")
    with pytest.raises(ValueError, match="differs from the recorded"):
        registry.read_verified(target / "model.txt", shas["model.txt"])


def test_build_summary_counts_nodes_and_tests() -> None:
    nodes = [
        {"resource_type": "model", "status": "success"},
        {"resource_type": "model", "status": "error"},
        {"resource_type": "model", "status": "skipped"},
        {"resource_type": "test", "status": "pass"},
        {"resource_type": "test", "status": "fail"},
        {"resource_type": "snapshot", "status": "success"},
        {"resource_type": "unit_test", "status": "pass"},
        {"resource_type": "unit_test", "status": "fail"},
    ]
    assert summarize(nodes) == {
        "nodes_succeeded": 2,
        "nodes_failed": 1,
        "nodes_skipped": 1,
        "tests_passed": 2,
        "tests_failed": 2,
    }
