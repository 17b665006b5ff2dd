"""Issue 20 item 9: every package is installed from a lock that carries hashes."""

from __future__ import annotations

import re
import tomllib

from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", re.M)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from requirements.lock's requirement blocks."""
    text = (REPO / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    out = {}
    for block in blocks:
        pin = PIN.match(block)
        if pin:
            out[_norm(pin.group(1))] = (pin.group(2), re.findall(r"--hash=sha256:(\w{64})", block))
    return out


def test_every_locked_package_has_hashes_and_no_index_is_named() -> None:
    lock = _lock()
    text = (REPO / "requirements.lock").read_text()
    assert len(lock) > 100
    assert [name for name, (_, hashes) in lock.items() if not hashes] == []
    assert not re.search(r"^--(extra-)?index-url|^--find-links", text, re.M)


def test_the_lock_agrees_with_pyproject_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["dev"]
    lock = _lock()
    wrong = []
    for requirement in direct:
        name, _, version = requirement.partition("==")
        name = re.split(r"[<>=!~\[; ]", name)[0]
        locked = lock.get(_norm(name), ("missing", []))[0]
        if version and locked != version:
            wrong.append(f"{name}: pyproject {version}, lock {locked}")
    assert wrong == []


def test_the_installed_environment_is_the_lock() -> None:
    """What runs the tests was installed from the lock (make install): no package differs."""
    from customer_ml import config
    from customer_ml.replay.rebuild import environment_differences

    assert config.lock_file(REPO).name == "requirements.lock"
    assert environment_differences(config.lock_file(REPO)) == []


def test_every_package_the_code_imports_is_a_direct_dependency() -> None:
    """What deptry's DEP003 checks (deptry is not in the lock): a package imported by src/ and
    installed only as another's dependency could disappear with that one's next version."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_norm(re.split(r"[<>=!~\[; ]", r)[0]) for r in project["dependencies"]}
    distributions = packages_distributions()
    undeclared = set()
    for path in (REPO / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module] if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )  # fmt: skip
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "customer_ml":
                    continue
                if not {_norm(d) for d in distributions.get(top, [top])} & declared:
                    undeclared.add(f"{top} ({path.relative_to(REPO)})")
    assert sorted(undeclared) == []
