"""The vars and tree a build is given, checked (an operator error, one line, never a training
failure): the build's `--vars` when it starts (the dbt plugin), a model's declared vars when its
training node reads them, and the clean tree a production training run needs."""

from __future__ import annotations

from typing import Any

from customer_ml import catalogue, config
from customer_ml.records import lineage


class DirtyTreeError(config.OperatorError):
    """A production training run needs a committed tree: the commit must name the code."""


def check_clean(run_type: str, git: lineage.GitState) -> None:
    if run_type == "production" and git.is_dirty:
        raise DirtyTreeError(
            f"production training refused: the git tree at {config.project_dir()} has "
            "uncommitted changes, so its commit would not name the code; commit them, or run "
            "an experiment: dbt build --vars '{run_type: experiment}'"
        )


def validate_vars(entry: catalogue.Entry, given: dict[str, Any]) -> dict[str, Any]:
    """The dbt vars the model declares (`vars:` in its catalogue entry), each checked: a var that
    did not arrive or has a value outside its allowed values or range fails with one line naming
    the var, the value and what is allowed."""
    declared = entry.policy.get("vars") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise config.OperatorError(
            f"{entry.name}: var(s) {', '.join(unknown)} passed but not declared under "
            f"{entry.name}.vars in config/models.yml"
        )
    out = {}
    for name, rule in declared.items():
        value = given.get(name)
        if value is None or value == "":
            raise config.OperatorError(
                f"var {name} did not reach ml_{entry.name}__train: pass it through the model's "
                f"config (config: {name}: \"{{{{ var('{name}') }}}}\") and dbt.config.get"
            )
        out[name] = check_var(name, rule, value)
    return out


def check_var(name: str, rule: dict[str, Any], value: Any) -> str | float:
    """`value` of var `name` by its catalogue rule (allowed values, or a min/max range); one line
    naming the var, the value and what is allowed when it fails."""
    if "allowed" in rule:
        if str(value) not in [str(a) for a in rule["allowed"]]:
            raise config.OperatorError(
                f"var {name}: {value} is not allowed; expected one of "
                f"{', '.join(str(a) for a in rule['allowed'])}"
            )
        return str(value)
    number = config.number(value)
    low, high = float(rule.get("min", "-inf")), float(rule.get("max", "inf"))
    if not (low <= number <= high):  # also refuses NaN
        raise config.OperatorError(f"var {name}: {value} is not a number in [{low:g}, {high:g}]")
    return number


RUN_TYPE = {"allowed": ["production", "experiment"]}


def check_build_vars(given: dict[str, Any]) -> None:
    """The vars passed to a build (`--vars`), checked when it starts, before any node runs: a name
    that is not a var of the project or of a catalogued model (a typo) and a value outside its
    rule each fail with one line (an operator error, never a training failure)."""
    import difflib

    from customer_ml.pipeline import retraining_policy

    rules: dict[str, dict[str, Any]] = {"run_type": RUN_TYPE, "retrain": retraining_policy.RETRAIN}
    for model in catalogue.names():
        rules.update(catalogue.entry(model).policy.get("vars") or {})
    known = sorted(set(config.project_vars()) | set(rules))
    for name, value in given.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(known)}"
            raise config.OperatorError(f"var {name}: not a var of this project{hint}")
        if name in rules:
            check_var(name, rules[name], value)
