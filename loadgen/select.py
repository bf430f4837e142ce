"""`locust -f loadgen/select.py`, the path users know: the users of loadgen/users.py (its docstring has the
options and examples).

Locust registers a locustfile under its file name in `sys.modules`, so while this file runs, `select` is
this file and not the standard module that asyncio, subprocess and gevent import. So it first puts the
standard module back, then imports the users; Locust finds them in this module's names.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _standard_select() -> types.ModuleType:
    """The standard library's `select`: the one the modules already loaded hold (selectors' own), else
    loaded anew from the interpreter (built in, or from its path with this directory left out)."""
    for module in list(sys.modules.values()):
        held = getattr(module, "select", None)
        if isinstance(held, types.ModuleType) and held.__name__ == "select" and held is not sys.modules[__name__]:
            return held
    path = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    spec = importlib.machinery.BuiltinImporter.find_spec("select") or importlib.machinery.PathFinder.find_spec(
        "select", path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if sys.modules.get("select") is sys.modules[__name__]:  # loaded by Locust, under the name "select"
    sys.modules["select"] = _standard_select()

sys.path.insert(0, str(HERE.parent))  # `locust -f loadgen/select.py` from anywhere

from loadgen.users import PgUser, SelectUser  # noqa: E402, F401  (the users Locust runs; their options and events)
