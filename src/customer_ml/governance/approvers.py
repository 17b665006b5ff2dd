"""Who is acting and who may act for a model: the identity of the person at the keyboard, and the
approver roles read from the *committed* config/owners.yml and config/models.yml (an uncommitted
change to either refuses every approval). customer_ml.governance.promotion asks this module.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from typing import Any

import yaml

from customer_ml import catalogue, config


class PromotionError(Exception):
    """A refused action: one line naming what and why (the gate, the role, the person)."""


def identity() -> str:
    """Who is acting: CUSTOMER_ML_USER, else git user.email, else the OS user."""
    if os.environ.get("CUSTOMER_ML_USER"):
        return os.environ["CUSTOMER_ML_USER"]
    try:
        email = subprocess.run(
            ["git", "config", "user.email"],
            cwd=config.project_dir(),
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        email = ""
    return email or getpass.getuser()


def _committed(relative: str) -> str:
    """A config file as committed at HEAD; refused when the working copy differs (who may
    approve is reviewed like code: an uncommitted edit is not honoured, like the dirty-tree rule
    for production training)."""
    root = config.project_dir()

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    shown = git("show", f"HEAD:{relative}")
    if shown.returncode != 0:
        raise PromotionError(
            f"{relative}: not committed in {root}; approvals follow the committed file"
        )
    if git("status", "--porcelain", "--", relative).stdout.strip():
        raise PromotionError(
            f"{relative} has uncommitted changes: approvals follow the committed file; commit "
            "the change (reviewed like code) or discard it"
        )
    return shown.stdout


def owners(model_name: str) -> dict[str, Any]:
    """Who may act for `model_name`, per role, from the committed config/owners.yml; the roles a
    promotion needs come from the committed catalogue (never from a request row)."""
    _committed("config/models.yml")
    everything = yaml.safe_load(_committed("config/owners.yml")) or {}
    if model_name not in everything:
        raise PromotionError(f"config/owners.yml: no owners for model {model_name!r}")
    return everything[model_name]


def roles_of(model_name: str, who: str) -> list[str]:
    listed = owners(model_name)
    required = catalogue.entry(model_name).approver_roles
    return [role for role in required if who in (listed.get(role) or [])]
