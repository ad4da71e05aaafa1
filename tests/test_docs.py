"""The documentation site (docs/conf.py): it builds with warnings as errors, the demos run in its
gallery, the topic pages render SymPy-generated math, and nothing is fetched from a CDN (MathJax is
served from the site).  The build runs once per session on a copy of docs/ (so nothing lands in the
checkout), with the README's command line; if Chromium is installed, a headless browser with the
network cut off checks that the math really renders and takes a screenshot."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DEMOS = sorted(p.stem for p in (ROOT / "demos").glob("plot_*.py"))
# What an online-only page would load: a CDN or MathJax's own servers.
CDN = re.compile(r"(?:https?:)?//[^\s\"'<>]*(?:cdn\.|jsdelivr|unpkg|cdnjs|mathjax\.org|polyfill\.io|googleapis)", re.I)
README_COMMAND = 'python -m pip install -e ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html'

sys.path.insert(0, str(ROOT / "docs" / "_ext"))


def test_readme_has_the_one_build_command_and_the_extras_agree():
    assert README_COMMAND in (ROOT / "README.md").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras["docs"]) <= set(extras["test"]), "CI installs only .[test]: it needs the docs dependencies"


def test_plain_text_docstrings_are_shown_verbatim():
    from bnreg_docstrings import is_clean_rst, plain_docstrings, reflow

    assert is_clean_rst("Plain words and ``code``.\n\nA second paragraph with `code`.")
    assert not is_clean_rst("eps_gen = |v - w*|^2 is the error")      # a broken substitution
    assert not is_clean_rst("The recursion\n    q' = q - 2q^2\nholds.")  # unexpected indentation
    lines = ["First line", "continues here.", "    indented formula", "", "- item", "- item two"]
    assert reflow("\n".join(lines)) == ["First line continues here.", "    indented formula", "", "- item",
                                        "- item two"]
    doc = ["Norm |w|^2 of", "the weights."]
    plain_docstrings(None, "function", "f", None, {}, doc)
    assert doc[0] == ".. code-block:: none" and "   Norm |w|^2 of the weights." in doc


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Build the site from a copy of docs/ (the README's sphinx options) and return the HTML folder."""
    work = tmp_path_factory.mktemp("docs")
    src = work / "docs"
    skip = shutil.ignore_patterns("_build", "auto_examples", "sg_execution_times.rst", "__pycache__")
    shutil.copytree(ROOT / "docs", src, ignore=skip)
    out, cwd = work / "html", work / "cwd"
    cwd.mkdir()
    env = {**os.environ, "BNREG_DOCS_ROOT": str(ROOT), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("BNREG_DEMO_QUICK", None)  # the build's own default: quick demos
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(src), str(out)],
                       capture_output=True, text=True, cwd=cwd, env=env, timeout=1800)
    assert r.returncode == 0, f"docs build failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}"
    assert not list(cwd.iterdir()), f"the build (demos) wrote into the working directory: {list(cwd.iterdir())}"
    return out


@pytest.mark.build
def test_every_page_and_the_api_reference_are_built(site):
    for md in (ROOT / "docs").rglob("*.md"):
        rel = md.relative_to(ROOT / "docs")
        if rel.parts[0] not in ("_build", "auto_examples"):
            assert (site / rel.with_suffix(".html")).is_file(), rel
    theory = (site / "api" / "theory.html").read_text()
    assert 'id="bnreg.theory.bn_noise.simple_error"' in theory and 'id="bnreg.theory.gamma_decay.zeta"' in theory
    assert 'id="bnreg.evaluate"' in (site / "api" / "bnreg.html").read_text()
    assert 'id="bnreg.sims.bn_noise.simulate_batch_stats"' in (site / "api" / "sims.html").read_text()
    assert 'id="bnreg.testing.check_formula"' in (site / "api" / "testing.html").read_text()
    assert 'id="bnreg.figures.run.make_figure"' in (site / "api" / "figures.html").read_text()


@pytest.mark.build
def test_the_gallery_runs_every_demo_and_shows_its_output(site):
    index = (site / "auto_examples" / "index.html").read_text()
    for stem in DEMOS:
        name = stem.removeprefix("plot_")
        assert f"{stem}.html" in index, stem
        page = (site / "auto_examples" / f"{stem}.html").read_text()
        assert f"== demo {name} (quick)" in page, f"{stem}: no printed output"
        assert f"sphx_glr_{stem}_001.png" in page and (site / "_images" / f"sphx_glr_{stem}_001.png").is_file(), \
            f"{stem}: no figure"


@pytest.mark.build
def test_topic_pages_render_math_generated_by_sympy(site):
    import sympy as sp

    from bnreg.theory.derivations import DERIVATIONS

    for page, name in [("bn_noise", "simple_error"), ("gamma_decay", "zeta"), ("teacher_student", "ridge_error"),
                       ("variance_shift", "variance_shift"), ("training_practice", "bn_running_stats")]:
        text = (site / f"{page}.html").read_text()
        assert f"bnreg derive {name}" in text, page
        for k, (label, expr) in enumerate(DERIVATIONS[name][0](True), 1):
            anchor = f'id="equation-derivation-{name.replace("_", "-")}-{k}"'
            assert anchor in text, (page, name, k)
            block = text[text.index(anchor):]
            math = html.unescape(block[block.index(r"\[") + 2:block.index(r"\]")])
            if math.startswith(r"\begin{split}"):  # Sphinx wraps multi-line math (matrices) in split
                math = math.removeprefix(r"\begin{split}").removesuffix(r"\end{split}")
            assert math == sp.latex(expr), (page, name, label)


@pytest.mark.build
def test_math_is_served_locally_and_no_page_uses_a_cdn(site):
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        text = page.read_text()
        assert not CDN.search(text), f"{page.relative_to(site)} references {CDN.search(text).group(0)}"
        for src in re.findall(r"<script[^>]*\ssrc=\"([^\"]+)\"", text):
            assert not re.match(r"(?:https?:)?//", src), f"{page.relative_to(site)} loads a remote script {src}"
    assert '_static/mathjax/tex-chtml.js' in (site / "bn_noise.html").read_text()


def _chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


@pytest.mark.build
@pytest.mark.skipif(_chromium() is None, reason="no Chromium (Debian: apt-get install chromium)")
def test_math_renders_offline_in_headless_chromium(site, tmp_path):
    """Open a derivation page from file:// with every network request refused: MathJax must turn every
    math block into rendered output (no raw LaTeX left, no MathJax error), and a screenshot is taken."""
    flags = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--proxy-server=127.0.0.1:9",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=20000", "--window-size=1200,1600"]
    url = (site / "bn_noise.html").as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=300).stdout
    blocks = (site / "bn_noise.html").read_text().count('class="math notranslate nohighlight"')
    assert blocks >= 10
    assert dom.count("<mjx-container") == blocks, "MathJax did not render every math block offline"
    assert "<mjx-merror" not in dom and r"\frac{" not in dom
    shot = tmp_path / "bn_noise.png"
    subprocess.run([*flags, f"--screenshot={shot}", url + "#the-derivations-rendered"], capture_output=True,
                   timeout=300)
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_demo_scripts_take_quick_mode_from_the_environment(monkeypatch):
    """The gallery runs the demos as scripts; BNREG_DEMO_QUICK (set by docs/conf.py) selects quick mode."""
    from bnreg.demos.common import quick_from_env

    for value, quick in [(None, False), ("0", False), ("", False), ("1", True), ("yes", True)]:
        if value is None:
            monkeypatch.delenv("BNREG_DEMO_QUICK", raising=False)
        else:
            monkeypatch.setenv("BNREG_DEMO_QUICK", value)
        assert quick_from_env() is quick, value
    for path in (ROOT / "demos").glob("plot_*.py"):
        assert "results = main(quick=quick_from_env())" in path.read_text(), path.name
