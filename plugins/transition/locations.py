"""Where the project's files are: the package, its templates and catalogues (package data, so an
installed ``transition`` has them too), and the repository it was checked out in, if any."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent  # plugins/transition
PLUGINS_DIR = PACKAGE_DIR.parent  # the folder holding the package (Airflow's plugins folder)
REPO_ROOT = PLUGINS_DIR.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
LOCALE_DIR = PACKAGE_DIR / "locale"
