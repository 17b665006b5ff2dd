"""Who may act for a model: the owners of each approver role and the SSH key each person signs
with, from config/owners.yml *as in force* — the first committed version that lists signers (the
root, trusted as reviewed when the project was set up), then each later commit of the file
that changes a role or a key, honoured only when git verifies the commit's SSH signature as a
current owner of every role it changes (a key change changes the roles of its person; a new
model needs an owner of any role). An uncommitted change, or a committed one no owner signed,
refuses every approval with one line naming the commit, until an owner signs the change or it
is reverted. The roles a model needs come from the committed config/models.yml.
customer_ml.governance.promotion asks this module.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from customer_ml import catalogue, config
from customer_ml.governance.errors import PromotionError
from customer_ml.governance.signing import allowed_signers

OWNERS = "config/owners.yml"


def identity() -> str:
    """Who says they are acting: CUSTOMER_ML_USER, else git user.email, else the OS user. A
    claim, not a proof: it labels `adopt` only; governance actions are signed (signing.py)."""
    return (
        os.environ.get("CUSTOMER_ML_USER") or config.git_config("user.email") or getpass.getuser()
    )


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=config.project_dir(), capture_output=True, text=True)


def _committed(relative: str) -> str:
    """A config file as committed at HEAD; refused when the working copy differs (who may
    approve is reviewed like code: an uncommitted edit is not honoured, like the dirty-tree rule
    for production training)."""
    shown = _git("show", f"HEAD:{relative}")
    if shown.returncode != 0:
        raise PromotionError(
            f"{relative}: not committed in {config.project_dir()}; approvals follow the "
            "committed file"
        )
    if _git("status", "--porcelain", "--", relative).stdout.strip():
        raise PromotionError(
            f"{relative} has uncommitted changes: approvals follow the committed file; commit "
            "the change (reviewed like code) or discard it"
        )
    return shown.stdout


@dataclass(frozen=True)
class Owners:
    """The owners file in force: signer -> public key, model -> role -> people, and its commit."""

    signers: dict[str, str]
    models: dict[str, dict[str, list[str]]]
    commit: str


class OwnersFile(BaseModel):
    """config/owners.yml: signer -> SSH public key, and model -> approver role -> people."""

    model_config = ConfigDict(extra="forbid", strict=True)

    signers: dict[str, str]
    # a model or role listed with nobody under it (YAML null) has no one
    models: dict[str, dict[str, list[str] | None] | None] | None = None


def _parse(text: str) -> tuple[dict[str, str], dict[str, dict[str, list[str]]]] | None:
    """(signers, models) of an owners file; None for a version without signers (before the
    root) or one that is not of that shape (why: `problem`)."""
    return None if problem(text) else _as_tuple(OwnersFile.model_validate(yaml.safe_load(text)))


def problem(text: str) -> str | None:
    """Why an owners file is not of OwnersFile's shape, in one line naming the key and value;
    None when it is."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return f"{OWNERS}: not YAML ({type(e).__name__})"
    try:
        OwnersFile.model_validate({} if data is None else data)
    except ValidationError as e:
        return catalogue.one_line(OWNERS, "", e)
    return None


def _as_tuple(owners: OwnersFile) -> tuple[dict[str, str], dict[str, dict[str, list[str]]]]:
    models = owners.models or {}
    return owners.signers, {m: {r: list(p or []) for r, p in (roles or {}).items()}
                            for m, roles in models.items()}  # fmt: skip


def _changed(old: tuple[dict, dict], new: tuple[dict, dict]) -> set[tuple[str, str]]:
    """The (model, role) pairs a change touches; ("*", "*") where any current owner may sign
    (a new model, a new signer with no role yet)."""
    (old_keys, old_models), (new_keys, new_models) = old, new
    out: set[tuple[str, str]] = set()
    for model in set(old_models) | set(new_models):
        if model not in old_models:
            out.add(("*", "*"))
            continue
        for role in set(old_models[model]) | set(new_models.get(model, {})):
            if sorted(old_models[model].get(role, [])) != sorted(
                new_models.get(model, {}).get(role, [])
            ):
                out.add((model, role))
    for person in set(old_keys) | set(new_keys):
        if old_keys.get(person) != new_keys.get(person):
            held = {(m, r) for m, roles in old_models.items() for r, ps in roles.items()
                    if person in ps}  # fmt: skip
            out |= held or {("*", "*")}
    return out


def _commit_signer(commit: str, signers: dict[str, str]) -> str | None:
    """The signer git verifies `commit`'s SSH signature as, among `signers`; None if unsigned or
    signed by anyone else."""
    with tempfile.TemporaryDirectory(prefix="customer-ml-owners-") as tmp:
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text(allowed_signers(signers, namespace="git"))
        shown = _git("-c", f"gpg.ssh.allowedSignersFile={allowed}", "show", "-s",
                     "--format=%G?%n%GS", commit)  # fmt: skip
    status, _, principal = shown.stdout.partition("\n")
    return principal.strip() if status == "G" and principal.strip() in signers else None


def owners_in_force() -> Owners:
    """The owners file in force at HEAD (module docstring); PromotionError, one line, when the
    working copy or HEAD holds a change no current owner signed."""
    _committed("config/models.yml")
    at_head = _parse(_committed(OWNERS))
    commits = _git("log", "--reverse", "--format=%H", "--", OWNERS).stdout.split()
    in_force: tuple[tuple[dict, dict], str] | None = None
    refused = ""
    for commit in commits:
        version = _parse(_git("show", f"{commit}:{OWNERS}").stdout)
        if in_force is None:
            if version is not None:
                in_force = (version, commit)
            continue
        if version is None:
            version = ({}, {})  # deleted or broken: a change of everything
        changed = _changed(in_force[0], version)
        if not changed:
            in_force = (version, commit)
            continue
        keys, models = in_force[0]
        who = _commit_signer(commit, keys)
        owners_of = {p for roles in models.values() for ps in roles.values() for p in ps}
        if who and all(who in (owners_of if m == "*" else models.get(m, {}).get(r, []))
                       for m, r in changed):  # fmt: skip
            in_force, refused = (version, commit), ""
        else:
            named = ", ".join(sorted(f"{m}.{r}" for m, r in changed if m != "*")) or "signers"
            refused = (
                f"{OWNERS}: commit {commit[:12]} changes {named} "
                + (f"signed by {who}, who is not a current owner of all of them"
                   if who else "without a signature git verifies as a current owner")
            )  # fmt: skip
    if in_force is None:
        raise PromotionError(f"{OWNERS}: no committed version lists signers; nobody can approve")
    if at_head != in_force[0]:
        broken = problem(_committed(OWNERS)) if at_head is None else None
        raise PromotionError(
            (broken or refused or f"{OWNERS} at HEAD differs from the version in force")
            + f"; the owners of commit {in_force[1][:12]} stay in force until a current owner "
            "signs the change (git commit -S with their SSH key) or it is reverted"
        )
    (keys, models), commit = in_force
    return Owners(signers=keys, models=models, commit=commit)


def owners(model_name: str) -> dict[str, Any]:
    """Who may act for `model_name`, per role, from the owners file in force."""
    models = owners_in_force().models
    if model_name not in models:
        raise PromotionError(f"{OWNERS}: no owners for model {model_name!r}")
    return models[model_name]


def roles_of(model_name: str, who: str) -> list[str]:
    listed = owners(model_name)
    required = catalogue.entry(model_name).approver_roles
    return [role for role in required if who in (listed.get(role) or [])]
