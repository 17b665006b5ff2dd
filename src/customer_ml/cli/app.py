"""The `customer-ml` command (the entry point): the group of customer_ml.cli.base with every
part's commands registered on it, one module per part of the package."""

from customer_ml.cli import (  # noqa: F401 - registers
    bench,
    data,
    governance,
    operating,
    records,
    replay,
    season,
)
from customer_ml.cli.base import main

__all__ = ["main"]
