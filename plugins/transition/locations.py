"""Where the project's files are: the repository, the package, its templates and catalogues."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent  # plugins/transition
PLUGINS_DIR = PACKAGE_DIR.parent  # the folder holding the package (Airflow's plugins folder)
REPO_ROOT = PLUGINS_DIR.parent
TEMPLATES_DIR = REPO_ROOT / "include" / "templates"
LOCALE_DIR = PACKAGE_DIR / "locale"
