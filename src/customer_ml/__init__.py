"""customer-ml: reproducible customer ML on a dbt + DuckDB warehouse.

The package is split by part of the system (docs/design.md "Package"). MLflow models saved
before that split pickle their wrapper under its old module name, `customer_ml.served_model`;
that one name still imports, as customer_ml.records.served_model, so a champion registered then
still loads with `mlflow.pyfunc.load_model`.
"""

import importlib
import importlib.abc
import importlib.util
import sys

LEGACY_MODULES = {"customer_ml.served_model": "customer_ml.records.served_model"}


class _LegacyModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as the module it became (the same module object)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in LEGACY_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(LEGACY_MODULES[spec.name])

    def exec_module(self, module):
        return None


if not any(isinstance(finder, _LegacyModules) for finder in sys.meta_path):
    sys.meta_path.append(_LegacyModules())
