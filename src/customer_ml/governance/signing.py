"""SSH signatures over governance actions, as git signs commits with SSH keys: `ssh-keygen -Y
sign` with the actor's key, `ssh-keygen -Y find-principals` and `-Y verify` against the signers
listed in config/owners.yml. The principal a signature verifies as is who acted: nothing the actor
claims (an environment variable, a git user.email) counts.

What is signed is `statement(action, fields)`: the action and the facts it decides on, as one
canonical JSON text, so a signature over one request, role or note is worth nothing on another.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from customer_ml import config
from customer_ml.governance.errors import PromotionError

NAMESPACE = "customer-ml"
KEY_ENV = "CUSTOMER_ML_SIGNING_KEY"


def statement(action: str, fields: dict) -> str:
    """The text signed for `action` on `fields` (canonical: sorted keys, no spaces)."""
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return f"customer-ml {action}\n{body}\n"


def key_path(explicit: Path | None = None) -> Path:
    """The signing key: --key, else CUSTOMER_ML_SIGNING_KEY, else git's user.signingkey (as for
    SSH-signed commits). One line when there is none or it is not a file."""
    chosen = explicit or os.environ.get(KEY_ENV) or config.git_config("user.signingkey")
    if not chosen:
        raise PromotionError(
            f"no signing key: pass --key, set {KEY_ENV} or git config user.signingkey (the SSH "
            "private key whose public half config/owners.yml lists for you)"
        )
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise PromotionError(f"signing key {path}: no such file")
    return path


def _ssh_keygen(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    if shutil.which("ssh-keygen") is None:
        raise PromotionError("ssh-keygen not found: install openssh-client to sign and verify")
    return subprocess.run(
        ["ssh-keygen", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def sign(text: str, key: Path) -> str:
    """The armored SSH signature of `text` by `key`. A key readable by others (the committed demo
    keys in a checkout) is used through a private copy, as ssh-keygen refuses it otherwise."""
    with tempfile.TemporaryDirectory(prefix="customer-ml-sign-") as tmp:
        if key.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            private = Path(tmp) / "key"
            private.write_bytes(key.read_bytes())
            private.chmod(0o600)
            key = private
        done = _ssh_keygen("-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE, stdin=text)
    if done.returncode != 0 or "BEGIN SSH SIGNATURE" not in done.stdout:
        last = (done.stderr.strip().splitlines() or ["no signature"])[-1]
        raise PromotionError(f"could not sign with {key}: {last}")
    return done.stdout


def allowed_signers(signers: dict[str, str], namespace: str = NAMESPACE) -> str:
    """An allowed-signers file (ssh-keygen's format, as git reads it) for principal -> public key,
    valid for `namespace` only ("git" for commit signatures)."""
    return "".join(
        f'{who} namespaces="{namespace}" {key}\n' for who, key in sorted(signers.items())
    )


def signer(text: str, signature: str | None, signers: dict[str, str]) -> str:
    """The principal among `signers` whose key made `signature` over `text`; PromotionError when
    it is missing, malformed, or made by a key no signer has."""
    if not signature or "BEGIN SSH SIGNATURE" not in signature:
        raise PromotionError("not signed")
    with tempfile.TemporaryDirectory(prefix="customer-ml-verify-") as tmp:
        allowed, sig = Path(tmp) / "allowed_signers", Path(tmp) / "sig"
        allowed.write_text(allowed_signers(signers))
        sig.write_text(signature)
        found = _ssh_keygen("-Y", "find-principals", "-s", str(sig), "-f", str(allowed))
        principals = found.stdout.split() if found.returncode == 0 else []
        for who in principals:
            checked = _ssh_keygen("-Y", "verify", "-f", str(allowed), "-I", who, "-n",
                                  NAMESPACE, "-s", str(sig), stdin=text)  # fmt: skip
            if checked.returncode == 0:
                return who
    raise PromotionError(
        "signed by a key config/owners.yml lists for no one"
        if not principals
        else f"the signature of {principals[0]} does not cover this content"
    )
