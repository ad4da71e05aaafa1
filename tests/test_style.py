"""The code base stays ruff-clean (ruff is in the test extras)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    exe = shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff not installed (pip install -e '.[test]' installs it)")
    r = subprocess.run([exe, "check", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_theory_does_not_import_sims_or_figures():
    """Architecture: theory/ knows nothing of sims/ or figures/."""
    code = ("import sys, theory.registry, theory.derivations; "
            "print(any(m.split('.')[0] in ('sims', 'figures') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr
