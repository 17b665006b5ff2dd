"""The CLI's conventions for scripts: `--version`, and one line on stderr for an operator error."""

from __future__ import annotations

import tomllib

from click.testing import CliRunner
from conftest import REPO

from customer_ml.cli import main


def test_version_is_the_projects() -> None:
    with open(REPO / "pyproject.toml", "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    done = CliRunner().invoke(main, ["--version"])
    assert done.exit_code == 0
    assert done.output.strip() == f"customer-ml {version}"


def test_an_unknown_target_is_one_line() -> None:
    done = CliRunner().invoke(main, ["where", "--target", "backfill"])
    assert done.exit_code == 2
    assert "'backfill' is not one of 'dev', 'ci', 'experiment'" in done.output
