"""config/models.yml is checked as a whole (customer_ml.catalogue.ModelConfig, pydantic): a
misspelled key, a wrong type or a missing key is one line naming the file, the key and the value;
the JSON Schema editors read (config/models.schema.json) is the model's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from customer_ml import catalogue


@pytest.fixture
def own_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "models.yml", tmp_path / "config" / "models.yml")
    monkeypatch.setenv("CUSTOMER_ML_HOME", str(tmp_path))
    return tmp_path


def _edit(project: Path, model: str, change) -> None:
    path = project / "config" / "models.yml"
    models = yaml.safe_load(path.read_text())
    change(models[model])
    path.write_text(yaml.safe_dump(models))


@pytest.mark.parametrize(
    ("model", "change", "message"),
    [
        ("churn", lambda m: m.update(decision_treshold=0.4),
         "churn.decision_treshold: unknown key (a typo?) (given: 0.4)"),
        ("clv", lambda m: m.update(greater_is_better="no"),
         "clv.greater_is_better: Input should be a valid boolean (given: 'no')"),
        ("segments", lambda m: m.pop("primary_metric"),
         "segments.primary_metric: Field required (given: missing)"),
        ("churn", lambda m: m["quotas"].update(threads=0),
         "churn.quotas.threads: Input should be greater than 0 (given: 0)"),
        ("clv", lambda m: m.update(monthly_budget_usd=0),
         "clv.monthly_budget_usd: Input should be greater than 0 (given: 0)"),
        ("churn", lambda m: m.update(decision_threshold=float("nan")),
         "churn.decision_threshold: Input should be a finite number (given: nan)"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_one_line_naming_file_key_and_value(own_project, model, change, message):
    catalogue.entry(model)  # as shipped: valid
    _edit(own_project, model, change)
    with pytest.raises(catalogue.CatalogueError) as caught:
        catalogue.entry(model)
    assert str(caught.value) == f"{own_project / 'config' / 'models.yml'}: {message}"


def test_the_committed_json_schema_is_the_catalogues() -> None:
    """Regenerate with: .venv/bin/python -c 'import json; from customer_ml import catalogue;
    print(json.dumps(catalogue.schema(), indent=2, sort_keys=True))' > config/models.schema.json"""
    committed = json.loads((REPO / "config" / "models.schema.json").read_text())
    assert committed == catalogue.schema()
    assert (
        (REPO / "config" / "models.yml")
        .read_text()
        .startswith("# yaml-language-server: $schema=models.schema.json")
    )


def test_the_schema_refuses_what_the_model_refuses() -> None:
    """The schema is usable by a JSON Schema validator (jsonschema, pinned via the lock): the
    shipped file passes it and a misspelled key does not."""
    import jsonschema

    shipped = yaml.safe_load((REPO / "config" / "models.yml").read_text())
    jsonschema.validate(shipped, catalogue.schema())
    shipped["churn"]["seeed"] = 1
    with pytest.raises(jsonschema.ValidationError, match="seeed"):
        jsonschema.validate(shipped, catalogue.schema())


def test_the_owners_schema_is_the_owners_files_and_the_shipped_file_passes() -> None:
    """config/owners.schema.json is OwnersFile's (governance.approvers); editors can point at
    it (the owners file itself changes only by a signed commit, so it names no schema)."""
    import jsonschema

    from customer_ml.governance.approvers import OwnersFile

    committed = json.loads((REPO / "config" / "owners.schema.json").read_text())
    assert committed == {
        **OwnersFile.model_json_schema(),
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "customer-ml owners (config/owners.yml)",
    }
    shipped = yaml.safe_load((REPO / "config" / "owners.yml").read_text())
    jsonschema.validate(shipped, committed)
    shipped["models"]["clv"]["business_stakeholder"] = "dev@example.com"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(shipped, committed)
