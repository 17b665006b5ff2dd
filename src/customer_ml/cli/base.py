"""What every `customer-ml` command shares: the command group (`main`), errors as one line on
stderr naming what, where and why with exit status 1 (success is 0; with --json also
{"error": ...} on stdout), and progress of long operations on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from customer_ml import config


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

    console = Console(stderr=True, log_path=False)
    with console.status(label) as status:

        def progress(step: str) -> None:
            console.log(step)
            status.update(step)

        yield progress


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


@click.group(cls=OneLineErrors)
@click.version_option(
    package_name="customer-ml", prog_name="customer-ml", message="%(prog)s %(version)s"
)
def main() -> None:
    """Reproducible customer ML on a dbt + DuckDB warehouse."""
