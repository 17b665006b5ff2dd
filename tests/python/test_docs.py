"""Issue 19: dbt docs document everything: every model, seed, snapshot and source, every column
the warehouse actually has (dbt's catalog, not only the declared ones), and every macro with
each of its arguments."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import conftest


def _docs_generate(wh: Path) -> tuple[dict, dict]:
    project = conftest.PROJECT or conftest.REPO
    done = subprocess.run(
        [str(conftest.BIN / "dbt"), "docs", "generate", "--target", "ci",
         "--target-path", str(wh / "target"), "--log-path", str(wh / "logs")],
        env=conftest.run_env(wh, project), cwd=project, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    manifest = json.loads((wh / "target" / "manifest.json").read_text())
    catalog = json.loads((wh / "target" / "catalog.json").read_text())
    return manifest, catalog


def undocumented(manifest: dict, catalog: dict) -> list[str]:
    """What dbt docs would show without a description."""
    missing = []
    for kind in ("nodes", "sources"):
        for unique_id, found in catalog[kind].items():
            declared = manifest[kind][unique_id]
            if not declared.get("description", "").strip():
                missing.append(unique_id)
            described = {
                name.lower(): column.get("description", "").strip()
                for name, column in declared.get("columns", {}).items()
            }
            missing += [
                f"{unique_id}.{name}"
                for name in found["columns"]
                if not described.get(name.lower())
            ]
    for unique_id, macro in manifest["macros"].items():
        if macro["package_name"] != "customer_ml":
            continue
        if not macro.get("description", "").strip():
            missing.append(unique_id)
        missing += [
            f"{unique_id}({argument['name']})"
            for argument in macro.get("arguments", [])
            if not (argument.get("description") and argument.get("type"))
        ]
        declared = {a["name"] for a in macro.get("arguments", [])}
        signature = set(macro.get("macro_sql", "").split("(", 1)[1].split(")", 1)[0].split(","))
        names = {a.split("=")[0].strip() for a in signature if a.strip()}
        missing += [f"{unique_id}({name}): not in YAML" for name in sorted(names - declared)]
    return missing


def test_every_model_source_column_and_macro_is_described(built: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(built, wh)
    manifest, catalog = _docs_generate(wh)
    assert len(catalog["nodes"]) > 35 and len(catalog["sources"]) > 20
    assert undocumented(manifest, catalog) == []

    # the check can fail: a column the warehouse has but the YAML does not describe
    unique_id = "model.customer_ml.feature_drift"
    catalog["nodes"][unique_id]["columns"]["added_later"] = {"name": "added_later"}
    manifest["macros"]["macro.customer_ml.volatile"]["description"] = ""
    assert undocumented(manifest, catalog) == [
        f"{unique_id}.added_later",
        "macro.customer_ml.volatile",
    ]


def test_the_readme_names_only_relations_that_exist(built: Path) -> None:
    """Every `schema.relation` the README and docs/ name in code quotes exists in a built warehouse
    (issue 35 found `experiments.training_runs`, which no build creates); names with a
    placeholder (`<model>`, `_v<n>`) match any relation of that shape."""
    import re

    import duckdb
    from conftest import REPO

    schemas = "raw|staging|intermediate|features|labels|datasets|ml|lineage|serving|monitoring"
    named = set(
        re.findall(
            rf"`((?:{schemas}|experiments)\.[a-z_<>0-9{{}}]+)",
            "\n".join(p.read_text() for p in [REPO / "README.md", *(REPO / "docs").glob("*.md")]),
        )
    )
    con = duckdb.connect(str(built / "ci.duckdb"), read_only=True)
    try:
        present = {f"{s}.{t}" for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()}  # fmt: skip
    finally:
        con.close()
    present |= {p.replace("ml.", "experiments.", 1) for p in present if p.startswith("ml.")}

    def exists(name: str) -> bool:
        pattern = re.sub(
            r"<[a-z_]+>|\{[a-z_]+\}",
            "[a-z0-9_]+",
            re.escape(name)
            .replace(r"\<", "<")
            .replace(r"\>", ">")
            .replace(r"\{", "{")
            .replace(r"\}", "}"),
        )
        return any(re.fullmatch(pattern, p) for p in present)

    missing = sorted(n for n in named if not exists(n))
    assert missing == []
