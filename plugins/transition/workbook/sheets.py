"""The workbook contract: which sheets and columns a plan has, with their English and French names.

``plan/config.yaml`` may add sheet names, column aliases and header rows; :func:`sheet_specs`
merges those onto the defaults below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol


class SheetOverride(Protocol):
    """What ``config.yaml`` may change of one sheet (``transition.plan.config.SheetOverride``)."""

    @property
    def name(self) -> str | None: ...
    @property
    def header_row(self) -> int | None: ...
    @property
    def columns(self) -> Mapping[str, list[str]]: ...


@dataclass(frozen=True)
class ColumnSpec:
    field: str
    aliases: tuple[str, ...]
    required: bool = False

    @property
    def title(self) -> str:
        return self.aliases[0]


@dataclass(frozen=True)
class SheetSpec:
    key: str
    names: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    required: bool = True
    header_row: int | None = None  # None: the first of rows 1-10 that holds the required headers

    @property
    def title(self) -> str:
        return self.names[0]

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.field == name)


STEPS = SheetSpec(
    "steps",
    ("Steps", "Etapes"),
    (
        ColumnSpec("id", ("ID", "Identifiant"), True),
        ColumnSpec("label", ("Label", "Libellé"), True),
        ColumnSpec("phase", ("Phase",), True),
        ColumnSpec("dry_runs", ("Dry runs", "Dry run"), True),
        ColumnSpec("prerequisites", ("Prerequisites", "Prérequis")),
        ColumnSpec("start", ("Start", "Début", "Date d'exécution")),
        ColumnSpec("duration", ("Duration", "Durée")),
        ColumnSpec("owner", ("Owner", "Exécutant", "Responsable"), True),
        ColumnSpec("environment", ("Environment", "Environnement")),
        ColumnSpec("description", ("Description", "Instructions")),
        ColumnSpec("kind", ("Kind", "Type")),  # step (default), gate (go/no-go), auto or check
        ColumnSpec("approvals", ("Approvals", "Validations")),  # a gate's Go answers needed
        ColumnSpec("action", ("Action",)),  # an auto or check step's action and its arguments
        ColumnSpec("expect", ("Expect", "Attendu")),  # what a check's measured value must be
    ),
)

ACTORS = SheetSpec(
    "actors",
    ("Actors", "Executants"),
    (
        ColumnSpec("id", ("ID", "Login", "Identifiant"), True),
        ColumnSpec("name", ("Name", "Nom"), True),
        ColumnSpec("email", ("Email", "E-mail", "Courriel"), True),
        ColumnSpec("team", ("Team", "Équipe")),
        ColumnSpec("team_leader", ("Team leader", "Chef d'équipe")),
        ColumnSpec("department_head", ("Department head", "Chef de département")),
        ColumnSpec("language", ("Language", "Langue")),
        ColumnSpec("timezone", ("Time zone", "Fuseau horaire")),  # IANA; empty: the plan's
        ColumnSpec("phone", ("Phone", "Téléphone")),  # E.164, for SMS (channels' to: people)
    ),
)

DRY_RUNS = SheetSpec(
    "dry_runs",
    ("DryRuns", "Dates"),
    (
        ColumnSpec("name", ("Name", "Nom"), True),
        ColumnSpec("d_day", ("D-day", "Jour J"), True),
        ColumnSpec("end", ("End", "Fin")),
        ColumnSpec("environment", ("Environment", "Environnement")),
    ),
)

ENVIRONMENTS = SheetSpec(
    "environments",
    ("Environments", "Environnements"),
    (
        ColumnSpec("code", ("Code",), True),
        ColumnSpec("name", ("Name", "Nom")),
        ColumnSpec("description", ("Description",)),
    ),
    required=False,
)

DEFAULT_SPECS: tuple[SheetSpec, ...] = (STEPS, ACTORS, DRY_RUNS, ENVIRONMENTS)


def sheet_specs(overrides: Mapping[Any, SheetOverride] | None = None) -> dict[str, SheetSpec]:
    """The sheet specs with the configuration's extra names, aliases and header rows applied."""
    specs: dict[str, SheetSpec] = {}
    for spec in DEFAULT_SPECS:
        override = (overrides or {}).get(spec.key)
        if override is not None:
            columns = tuple(
                replace(c, aliases=tuple(override.columns.get(c.field, ())) + c.aliases)
                for c in spec.columns
            )
            names = ((override.name,) if override.name else ()) + spec.names
            spec = replace(spec, names=names, columns=columns, header_row=override.header_row)
        specs[spec.key] = spec
    return specs


def known_fields(key: str) -> set[str]:
    spec = next(s for s in DEFAULT_SPECS if s.key == key)
    return {c.field for c in spec.columns}
