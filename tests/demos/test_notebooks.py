"""The notebooks `bnreg demo NAME --notebook DIR` writes, executed as a user would open them: every
cell run top to bottom by a Jupyter kernel (nbclient + ipykernel, in the test extras), in quick mode
(BNREG_DEMO_QUICK=1, inherited by the kernel), with no error and the key numbers printed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bnreg.demos import DEMOS

nbclient = pytest.importorskip("nbclient", reason="nbclient and ipykernel are in the test extras")
nbformat = pytest.importorskip("nbformat")


@pytest.mark.figures
@pytest.mark.parametrize("name", list(DEMOS))
def test_the_written_notebook_runs_in_a_kernel(name, tmp_path, monkeypatch):
    # written by the command a user types, in a fresh process
    r = subprocess.run([sys.executable, "-m", "bnreg", "demo", name, "--notebook", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (path,) = tmp_path.glob("*.ipynb")
    assert path.name == f"plot_{name}.ipynb" and str(path) in r.stdout
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    monkeypatch.setenv("BNREG_DEMO_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert text.strip(), f"{name}: the notebook printed nothing"
