"""The actions catalogue named in config.yaml (``actions:``) is checked with the plan (issue 28).

Its problems are the plan's (with the file and the entry), so the last good plan stays; a file
that is no regular file, or too big, is refused without being read; the compiled plan is keyed
on the catalogue's bytes too.
"""

from __future__ import annotations

import os

import pytest

from conftest import base_sheets, write_config, write_xlsx
from transition.plan.actions import MAX_CATALOGUE_BYTES
from transition.plan.compiler import compile_plan, content_key
from transition.plan.config import load_config
from transition.store.plan_store import load_plan

GOOD = """
actions:
  export_file:
    kind: bash
    command: ./export.sh
    parameters:
      day: {type: date, default: D-1}
"""


@pytest.fixture
def folder(plan_dir):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    write_config(plan_dir / "config.yaml", "plan.xlsx", actions="actions.yaml")
    return plan_dir


def problems(folder) -> list[str]:
    return [str(p) for p in compile_plan(load_config(folder / "config.yaml")).problems]


def test_a_good_catalogue_beside_the_plan_compiles(folder):
    (folder / "actions.yaml").write_text(GOOD, encoding="utf-8")
    config = load_config(folder / "config.yaml")
    assert config.actions_path == (folder / "actions.yaml").resolve()
    result = compile_plan(config)
    assert result.ok, result.problems


def test_a_broken_catalogue_is_a_problem_of_the_plan_and_the_last_good_plan_stays(folder):
    (folder / "actions.yaml").write_text(GOOD, encoding="utf-8")
    good = load_plan(folder / "config.yaml")
    assert good.plan is not None and good.problems == []
    (folder / "actions.yaml").write_text(
        GOOD.replace("kind: bash", "kind: telnet"), encoding="utf-8"
    )
    again = load_plan(folder / "config.yaml")
    said = [str(p) for p in again.problems]
    assert any(s.startswith("actions.yaml: actions.export_file") and "telnet" in s for s in said), (
        said
    )
    assert again.plan is not None and again.plan.source.key == good.plan.source.key  # kept


def test_a_missing_catalogue_says_so(folder):
    said = problems(folder)
    assert any(s.startswith("actions.yaml: cannot read the actions catalogue") for s in said), said


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "folder"])
def test_a_catalogue_that_is_no_file_is_refused_unread(folder, target):
    if target == "fifo":
        os.mkfifo(folder / "fifo")  # reading it would wait for a writer for ever
        target = str(folder / "fifo")
    elif target == "folder":
        (folder / "folder").mkdir()
        target = str(folder / "folder")
    write_config(folder / "config.yaml", "plan.xlsx", actions=target)
    said = problems(folder)
    assert any("the actions catalogue" in s for s in said), said


def test_a_catalogue_too_big_is_refused(folder):
    (folder / "actions.yaml").write_text(GOOD + "#" * MAX_CATALOGUE_BYTES + "\n", encoding="utf-8")
    said = problems(folder)
    assert any("actions.yaml: refused: the file is larger than 1024 KB" in s for s in said), said


def test_the_compiled_plan_follows_the_catalogue(folder):
    (folder / "actions.yaml").write_text(GOOD, encoding="utf-8")
    first, _sha = content_key(load_config(folder / "config.yaml"))
    (folder / "actions.yaml").write_text(GOOD.replace("D-1", "D-2"), encoding="utf-8")
    second, _sha = content_key(load_config(folder / "config.yaml"))
    assert first != second
