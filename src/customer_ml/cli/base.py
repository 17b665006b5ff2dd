"""What every `customer-ml` command shares: the command group (`main`), errors as one line on
stderr naming what, where and why with exit status 1 (success is 0; with --json also
{"error": ...} on stdout), and progress of long operations on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from customer_ml import catalogue, config


def fail(message: str) -> None:
    """One line on stderr and exit status 1; with --json, also {"error": ...} on stdout, so a
    script reading stdout gets JSON whatever happened."""
    click.echo(f"customer-ml: {message}", err=True)
    if wants_json():
        click.echo(json.dumps({"error": message}))
    sys.exit(1)


def wants_json() -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return "--json" in sys.argv[1:]


@contextmanager
def steps(label: str) -> Iterator[Callable[[str], None]]:
    """Progress of a long operation on stderr (stdout stays for results and --json): each step
    as a timestamped line, and a spinner on a terminal; yields `progress(step)`."""
    from rich.console import Console

    console = Console(stderr=True, log_path=False, quiet=quiet())
    with console.status(label) as status:

        def progress(step: str) -> None:
            console.log(step)
            status.update(step)

        yield progress


def quiet() -> bool:
    """Whether `customer-ml --quiet` asked for no progress (results and errors still print)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("quiet"))


STACK = ("dbt-core", "dbt-duckdb", "duckdb", "mlflow", "lightgbm", "lifetimes", "scikit-learn")


def show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """`--version`: this package's version, the project's commit and the stack's versions."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    from customer_ml.records import lineage

    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    git = lineage.git_state()
    if not git.commit or git.commit == "unknown":
        commit = "no git commit"
    else:
        commit = f"{git.commit[:12]}{' (uncommitted changes)' if git.is_dirty else ''}"
    click.echo(f"customer-ml {of('customer-ml')} at {commit} in {config.project_dir()}")
    click.echo(", ".join(f"{package} {of(package)}" for package in STACK))
    ctx.exit()


def use_project(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """`--project-dir`: the checkout every command and the dbt builds it runs act on, passed on
    to them through CUSTOMER_ML_HOME (which, set alone, each command checks itself)."""
    if value is None:
        return None
    if not (value / "dbt_project.yml").is_file():
        raise click.BadParameter(f"{value} is not a customer-ml checkout (no dbt_project.yml)")
    os.environ["CUSTOMER_ML_HOME"] = str(value.resolve())
    return value


class OneLineErrors(click.Group):
    """Every error is one line on stderr, never a traceback (CUSTOMER_ML_DEBUG=1 shows it)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except config.OperatorError as e:
            fail(str(e))
        except Exception as e:
            if os.environ.get("CUSTOMER_ML_DEBUG"):
                raise
            first = (str(e).strip().splitlines() or [""])[0]
            fail(f"{type(e).__name__}: {first} (CUSTOMER_ML_DEBUG=1 shows the traceback)")


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=show_version,
              help="the version, the project's commit and the stack's versions")  # fmt: skip
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    callback=use_project,
    expose_value=False,
    is_eager=True,
    help="the customer-ml checkout to act on (default: CUSTOMER_ML_HOME, else the current folder)",
)
@click.option("--quiet", "-q", is_flag=True, help="no progress on stderr (results and errors only)")
def main(quiet: bool) -> None:
    """Reproducible customer ML on a dbt + DuckDB warehouse.

    Environment: CUSTOMER_ML_HOME (the project), CUSTOMER_ML_WAREHOUSE_DIR (its warehouse
    folder), CUSTOMER_ML_SIGNING_KEY (your SSH key for governance commands), CUSTOMER_ML_NOW
    (a simulated clock, for warehouses of their own), CUSTOMER_ML_LOCK_TIMEOUT,
    CUSTOMER_ML_DUCKDB_MEMORY / _THREADS, CUSTOMER_ML_ALERT_WEBHOOK, CUSTOMER_ML_DEBUG."""


def no_warehouse(wh: Path) -> None:
    """Fail, one line, for a warehouse that does not exist, with the advice that fits: outside a
    customer-ml checkout, where to run from; inside one, how to make it."""
    if not (config.project_dir() / "dbt_project.yml").is_file():
        fail(
            f"{config.project_dir()} is not a customer-ml checkout (no dbt_project.yml): run "
            "customer-ml from the checkout, or set CUSTOMER_ML_HOME to it"
        )
    fail(f"{wh}: no warehouse yet; run `make run` (or dbt build) first")


def warehouse_file(target: str, warehouse: Path | None) -> Path:
    """The warehouse a command acts on: --warehouse when given (a <target>.duckdb file, so that
    the gates dbt checks read that very file), else --target's."""
    if warehouse is None:
        return config.warehouse_path(target)
    if warehouse.suffix != ".duckdb" or warehouse.stem not in config.TARGETS:
        fail(
            f"{warehouse}: --warehouse must be a file named <target>.duckdb "
            f"({', '.join(config.TARGETS)}), as builds write them"
        )
    return warehouse.resolve()


JSON = click.option("--json", "as_json", is_flag=True, help="machine-readable output")


def catalogued_model(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A model named in the catalogue (config/models.yml), else a usage error listing them."""
    try:
        catalogue.entry(value)
    except (catalogue.CatalogueError, OSError) as e:
        raise click.BadParameter(str(e).splitlines()[0]) from None
    return value


TARGET = click.option(
    "--target", type=click.Choice(config.TARGETS), default="dev", show_default=True
)
WAREHOUSE = click.option(
    "--warehouse", type=click.Path(path_type=Path), help="overrides --target's file"
)


def warehouse_rw(target: str, warehouse: Path | None):
    wh = warehouse_file(target, warehouse)
    if not wh.exists():
        no_warehouse(wh)
    con = config.connect(wh)
    from customer_ml.records import lineage, store

    store.create_all(con)
    try:
        lineage.check_clock(con)  # a simulated clock never acts on a real warehouse
    except config.OperatorError as e:
        con.close()
        fail(str(e))
    return con


def print_table(columns: list[str], rows: list[list[str]]) -> None:
    """A table with a header on stdout (rich): on a terminal as wide as it is, cells wrapped;
    into a pipe or file wide enough that no cell is cut (ids stay whole for grep)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(box=None)
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=i == 0, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=console.width if console.is_terminal else 400).print(table)
