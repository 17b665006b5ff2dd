"""The package's import rules (tests/python/helpers/architecture.py, run by `make lint`): the real
tree keeps them, and a tree that breaks each one is caught."""

from __future__ import annotations

import pickle
from pathlib import Path

from helpers import architecture

ROOT = Path(__file__).resolve().parents[2]


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "customer_ml"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    return package


def test_the_package_keeps_the_rules():
    assert architecture.problems(ROOT / "src/customer_ml") == []
    assert architecture.too_long(ROOT / "src/customer_ml", ".py") == []
    assert architecture.too_long(ROOT / "macros", ".sql") == []


def test_every_part_of_the_package_has_a_rule():
    parts = {
        path.stem if path.is_file() else path.name
        for path in (ROOT / "src/customer_ml").iterdir()
        if path.name != "__init__.py" and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    assert parts <= set(architecture.ALLOWED), parts - set(architecture.ALLOWED)


def test_an_upward_import_is_caught(tmp_path):
    package = _tree(
        tmp_path,
        {
            "models/churn.py": "def f():\n    from customer_ml.pipeline import scoring\n",
            "pipeline/scoring.py": "from customer_ml.models import baselines\n",
            "models/baselines.py": "",
        },
    )
    assert architecture.problems(package) == [
        "customer_ml.models.churn imports customer_ml.pipeline.scoring: "
        "models may not import pipeline"
    ]


def test_a_circle_inside_a_part_is_caught(tmp_path):
    package = _tree(
        tmp_path,
        {
            "pipeline/a.py": "from customer_ml.pipeline import b\n",
            "pipeline/b.py": "from customer_ml.pipeline.c import x\n",
            "pipeline/c.py": "x = 1\nfrom customer_ml.pipeline import a\n",
        },
    )
    assert architecture.problems(package) == [
        "import circle: customer_ml.pipeline.a <-> customer_ml.pipeline.b "
        "<-> customer_ml.pipeline.c"
    ]


def test_a_private_name_and_an_import_of_cli_are_caught(tmp_path):
    package = _tree(
        tmp_path,
        {
            "records/store.py": "def _read():\n    pass\n",
            "records/chain.py": "from customer_ml.records.store import _read\n",
            "cli/base.py": "main = None\n",
            "governance/promotion.py": "from customer_ml.cli.base import main\n",
        },
    )
    assert architecture.problems(package) == [
        "customer_ml.governance.promotion imports customer_ml.cli.base: "
        "governance may not import cli",
        "customer_ml.records.chain imports the private name customer_ml.records.store._read",
    ]


def test_a_long_module_is_caught(tmp_path):
    package = _tree(tmp_path, {"models/long.py": "x = 1\n" * 401, "models/short.py": "x = 1\n"})
    assert architecture.too_long(package, ".py") == [
        f"{package}/models/long.py: 401 lines (at most 400: split it by responsibility)"
    ]


def test_an_mlflow_model_saved_before_the_split_finds_its_wrapper():
    """Pickles of MLflow models saved before the package was split name the wrapper by its old
    module; it must resolve to the wrapper that exists now."""
    from customer_ml.records.served_model import ServedModel

    old_reference = b"ccustomer_ml.served_model\nServedModel\np0\n."
    assert pickle.loads(old_reference) is ServedModel
    unknown = b"ccustomer_ml.no_such_module\nServedModel\np0\n."
    try:
        pickle.loads(unknown)
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError("an unknown old module name must not resolve")
