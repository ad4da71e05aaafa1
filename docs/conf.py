"""Sphinx configuration of the bnreg documentation site.

Build (from the repository root; the README's command):
    python -m pip install -e ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html

Stack: MyST (the Markdown pages of docs/), sphinx-gallery (the demos/plot_*.py scripts, executed),
autodoc (the API reference), the local ``derivation`` directive (docs/_ext: SymPy -> LaTeX at build
time) and MathJax 3 served from ``_static`` (sphinx-mathjax-offline), so math renders offline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The repository the site documents (tests/test_docs.py builds a copy of docs/ and points here).
ROOT = Path(os.environ.get("BNREG_DOCS_ROOT", HERE.parent)).resolve()
# Import bnreg from this checkout, ahead of any installed copy.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "_ext"))

project = "bnreg"
author = "bnreg developers"
copyright = "bnreg developers, MIT license"


def _version() -> str:
    for line in (ROOT / "bnreg" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return ""


release = version = _version()

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static/mathjax; no CDN
    "sphinx_gallery.gen_gallery",
    "bnreg_derivation",
    "bnreg_topics",  # docs/topics.md: the topic index, generated from bnreg/topics.py
    "bnreg_evidence",  # docs/evidence.md: the evidence matrix, generated from bnreg/evidence.py
    "bnreg_docstrings",  # plain-text docstrings shown verbatim unless they are clean reST
]

root_doc = "index"
# Unlabelled code blocks in the pages are shell commands or plain text, not Python.
highlight_language = "none"
# `single backticks` in docstrings and the demos' comments mean code.
default_role = "literal"
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json"]
templates_path: list[str] = []

# MyST: $...$ / $$...$$ math, ```{directive} blocks; anchors for the pages' "#references"-style links.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Math: MathJax 3, local copy (set by sphinx-mathjax-offline; repeated here for clarity).
mathjax_path = "mathjax/tex-chtml.js"

# API reference from docstrings.  The docstrings are plain text in the toolkit's own style
# ("Parameters: ...", "Returns: ..."), so no napoleon; type hints go into the signature.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# The gallery: every demos/plot_*.py is executed (its `if __name__ == "__main__"` block calls
# main(), which prints the key numbers and draws the figure; nothing is saved to disk) and shown
# with its printed output and figure.  In quick mode by default, to keep the build short (the ten
# demos take about 30 s instead of about 3 min on two busy cores); BNREG_DEMO_QUICK=0 builds the
# gallery with the full demos.
os.environ.setdefault("BNREG_DEMO_QUICK", "1")
sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "demos")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"(^|[\\/])plot_",
    "ignore_pattern": r"(^|[\\/])(__init__|common|notebook)\.py$",
    "within_subsection_order": "FileNameSortKey",
    # Run every demo on every build: its output depends on the library, not only on its own file
    # (and on the quick/full mode), so sphinx-gallery's per-file checksum cache would show stale output.
    "run_stale_examples": True,
    "download_all_examples": False,
    "write_computation_times": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "capture_repr": (),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "show_memory": False,
}

html_theme = "alabaster"
html_title = f"bnreg {release}"
html_static_path = ["_static"]
html_css_files = ["bnreg.css"]
html_theme_options = {"description": "how batch normalization and dropout regularize, derived and checked",
                      "fixed_sidebar": False, "page_width": "1100px", "sidebar_width": "230px"}
html_show_sourcelink = True
