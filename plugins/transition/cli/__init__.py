"""The ``transition`` command and what runs Airflow for a plan: the only layer that parses arguments.

Owns: the subcommands (validate, graph, template, sample, report, calibrate, backup, restore, calendar,
standalone), running ``airflow standalone`` and keeping it running, the gettext catalogues' upkeep.
May import every other layer; nothing imports it but the console script and the tests.
"""

from __future__ import annotations


def main() -> int:
    """``transition.cli:main``, the console script of installs made before the layers (kept working)."""
    # deferred: a submodule run with -m loads only itself
    from transition.cli.main import (
        main as run,  # deferred: a submodule run with -m loads only itself
    )

    return run()
