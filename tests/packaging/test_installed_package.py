"""``pip install .`` outside the checkout gives a working ``transition``: the templates and the
language catalogues are package data, and nothing is looked for through the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from transition.locations import PACKAGE_DIR, REPO_ROOT

CHECK = """
import transition
from transition.i18n import _, use_language
from transition.notifications.mail import template_environment
print(transition.__file__)
print(len(template_environment().list_templates()))
with use_language("fr"):
    print(_("configuration file not found"))
"""


def test_an_installed_transition_works_outside_the_checkout(tmp_path):
    site = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(site),
            str(REPO_ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("transition_plan.xlsx", "config.yaml", "actions.yaml"):
        shutil.copy(REPO_ROOT / "plan" / name, elsewhere / name)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRANSITION_")}
    env["PYTHONPATH"] = str(site)

    def transition(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(site / "bin" / "transition"), *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    checked = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    where, templates, french = checked.stdout.splitlines()
    assert Path(where).is_relative_to(site), where  # not the checkout's package
    assert int(templates) == len(list((PACKAGE_DIR / "templates").glob("*.j2")))
    assert french == "fichier de configuration introuvable"

    valid = transition("validate", "config.yaml")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "DR1" in valid.stdout, valid.stdout
    unnamed = transition("validate")  # no checkout around: say how to name the plan
    assert unnamed.returncode != 0
    assert "TRANSITION_CONFIG" in unnamed.stdout + unnamed.stderr, unnamed.stdout + unnamed.stderr
