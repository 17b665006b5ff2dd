"""The registered champions load where this project is not: a fresh virtual environment holding
only what each MLflow model's own requirements.txt lists (from PyPI), in a folder outside the
checkout, loads `models:/customer-ml-<model>@champion` for every model and predicts what it
predicts here. `make outside` runs it (CI too): it installs from PyPI, so it is not part of
`make test`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli

pytestmark = pytest.mark.outside

MODELS = ("churn", "clv", "segments")

LOAD = """
import importlib.util, json, sys
assert importlib.util.find_spec("customer_ml") is None, "customer_ml importable"
import mlflow.pyfunc
out = {}
for model in sys.argv[1:]:
    loaded = mlflow.pyfunc.load_model(f"models:/customer-ml-{model}@champion")
    out[model] = loaded.predict(loaded.input_example)["score"].tolist()
print(json.dumps(out))
"""


def test_every_champion_loads_in_a_fresh_environment_without_this_checkout(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.pyfunc

    from customer_ml.records import tracking

    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    done = cli(wh, "demo-champions", "--target", "ci")
    assert done.returncode == 0, done.stderr
    uri = f"sqlite:///{wh / 'ci.mlflow.db'}"
    client = tracking.client_for(wh / "ci.duckdb")
    requirements = set()
    for model in MODELS:
        version = client.get_model_version_by_alias(f"customer-ml-{model}", "champion")
        location = client.get_logged_model(version.source.removeprefix("models:/"))
        files = Path(location.artifact_location.removeprefix("file://"))
        requirements |= set((files / "requirements.txt").read_text().split())
    venv = tmp_path / "fresh-venv"
    base = getattr(sys, "_base_executable", None) or shutil.which("python3")
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    (tmp_path / "requirements.txt").write_text("\n".join(sorted(requirements)) + "\n")
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(tmp_path / "requirements.txt")],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]

    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "MLFLOW_TRACKING_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    there = subprocess.run(
        [str(venv / "bin" / "python"), "-c", LOAD, *MODELS],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert there.returncode == 0, there.stderr[-3000:]
    predicted = json.loads(there.stdout.strip().splitlines()[-1])

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for model in MODELS:
        here = mlflow.pyfunc.load_model(f"models:/customer-ml-{model}@champion")
        assert len(predicted[model]) > 0
        assert predicted[model] == here.predict(here.input_example)["score"].tolist(), model
