"""The ``transition`` command: the only layer that parses arguments.

Owns: the subcommands (validate, graph, template, sample, report, calibrate, backup, restore, calendar,
standalone), each calling into the layers (running Airflow on one machine is :mod:`transition.local`),
and the gettext catalogues' upkeep. May import every other layer; nothing imports it but the console
script and the tests.
"""

from __future__ import annotations


def main() -> int:
    """``transition.cli:main``, the console script of installs made before the layers (kept working)."""
    # deferred: a submodule run with -m loads only itself
    from transition.cli.main import (
        main as run,  # deferred: a submodule run with -m loads only itself
    )

    return run()
