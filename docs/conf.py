"""Sphinx configuration of the documentation site (``make docs``).

Sphinx because Airflow and its providers document themselves with it; the theme is
alabaster, the one Sphinx ships with (no extra theme package to lock). myst-parser lets the
pages include README.md, RELIABILITY.md and CHANGELOG.md (or sections of them) instead of
copying their text. The per-operation pages are generated from the registry on every build
(docs/generate.py into docs/_generated/, which git ignores).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

import airflow_querystatus  # noqa: E402

generate.generate(HERE / "_generated")

project = "airflow-querystatus"
author = "airflow-querystatus contributors"
copyright = "the airflow-querystatus contributors, Apache-2.0"
release = version = airflow_querystatus.__version__

extensions = ["myst_parser"]
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "alabaster"
html_title = f"airflow-querystatus {release}"
html_theme_options = {"page_width": "1240px", "sidebar_width": "220px", "body_max_width": "none", "fixed_sidebar": True}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# README sections are included as fragments: their headings start below H1 on purpose.
suppress_warnings = ["myst.header"]
