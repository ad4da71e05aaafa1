"""Loading the checks a user's Python file declares (`bnreg check FILE.py`)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from bnreg.errors import CheckInputError

from .judge import Check, CheckResult

__all__ = ["load_checks"]


def _refuse_os_exit(code: int = 0) -> None:
    raise CheckInputError(f"the file called os._exit({code}) at import; a check file must only declare checks")


def load_checks(path: str | Path) -> list[Check | CheckResult]:
    """Import the Python file `path` and collect its module-level checks: `Check`s (e.g. from
    `formula_check`) and `CheckResult`s (from `check_formula`), alone or in lists/tuples, in
    definition order, each once.  Names starting with "_" are skipped.
    Raises: CheckInputError if the file is missing, fails to import, or declares no check."""
    path = Path(path)
    if not path.is_file():
        raise CheckInputError(f"no such file: {path}")
    if path.suffix != ".py":
        raise CheckInputError(f"{path} is not a Python file (.py)")
    mod_name = f"bnreg_user_checks_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise CheckInputError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)  # resolved now: the file may change the working directory
    sys.path.insert(0, folder)  # the file may import its neighbours
    sys.modules[mod_name] = module
    real_exit = os._exit
    os._exit = _refuse_os_exit  # os._exit(0) at import would end the run with exit 0 and no check run
    try:
        spec.loader.exec_module(module)
    except CheckInputError:
        raise
    except SystemExit as e:  # sys.exit() at import: the file stopped itself before its checks could be trusted
        raise CheckInputError(f"importing {path} failed: it called sys.exit({e.code!r}); a check file must "
                              "only declare checks") from None
    except Exception as e:
        tb = e.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f" (line {line})" if line else ""
        raise CheckInputError(f"importing {path} failed{where}: {type(e).__name__}: {e}") from e
    finally:
        os._exit = real_exit
        if folder in sys.path:
            sys.path.remove(folder)
        sys.modules.pop(mod_name, None)
    found: list[Check | CheckResult] = []
    seen: set[int] = set()
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, (Check, CheckResult)):
                ident = id(v.check if isinstance(v, CheckResult) else v)
                if ident not in seen:
                    seen.add(ident)
                    found.append(v)
    if not found:
        raise CheckInputError(f"{path} declares no check: put formula_check(...) objects (or check_formula "
                              f"results) at module level, e.g. CHECKS = [formula_check(...)]")
    return found
