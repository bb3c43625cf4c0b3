"""Go / no-go gates in a dry run: which steps each decision starts and which it skips.

A gate's direct dependents (after the dry run's projection) in a conditional phase (``conditional:
true`` in ``config.yaml``, FB-RB by default) form its **fallback branch**; its other direct
dependents its **forward branch**. On Go the fallback branch is skipped, on No-go the forward one;
Airflow's skip propagation skips what follows a skipped step. A step downstream of both branches of
a gate (a **join**) runs once either branch is done. Go counts once per pair of eyes (:func:`said_go`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transition.plan.graph import reachable
from transition.plan.model import DryRunPlan, Plan
from transition.vocabulary import Option


@dataclass(frozen=True, slots=True)
class GateBranches:
    gate: str
    forward: tuple[str, ...]  # run on Go, skipped on No-go
    fallback: tuple[str, ...]  # run on No-go, skipped on Go


def downstream_of(schedule: DryRunPlan) -> dict[str, list[str]]:
    """Each step's direct dependents in the dry run, in plan order."""
    dependents: dict[str, list[str]] = {s: [] for s in schedule.steps}
    for step in schedule.steps.values():
        for up in step.upstream:
            dependents[up].append(step.step_id)
    return dependents


def descendants(roots: Iterable[str], dependents: Mapping[str, list[str]]) -> set[str]:
    """``roots`` and every step that follows one of them."""
    return reachable(roots, dependents)


def gate_branches(plan: Plan, dry_run: str) -> dict[str, GateBranches]:
    """Every gate of the dry run with its two branches."""
    schedule = plan.schedules[dry_run]
    dependents = downstream_of(schedule)
    conditional = set(plan.conditional_phases)
    found: dict[str, GateBranches] = {}
    for step_id in schedule.steps:
        if not plan.steps[step_id].is_gate:
            continue
        direct = dependents[step_id]
        found[step_id] = GateBranches(
            step_id,
            forward=tuple(s for s in direct if plan.steps[s].phase not in conditional),
            fallback=tuple(s for s in direct if plan.steps[s].phase in conditional),
        )
    return found


def join_steps(plan: Plan, dry_run: str) -> set[str]:
    """The steps where the two branches of a gate meet: they follow both branches and wait for at
    least one of their prerequisites to succeed, none to fail (the others skipped by the decision)."""
    schedule = plan.schedules[dry_run]
    dependents = downstream_of(schedule)
    joins: set[str] = set()
    for branches in gate_branches(plan, dry_run).values():
        both = descendants(branches.forward, dependents) & descendants(
            branches.fallback, dependents
        )
        joins |= {s for s in both if not set(schedule.steps[s].upstream) <= both}
    return joins


def led_by_a_gate(plan: Plan, dry_run: str) -> set[str]:
    """Every step that some gate's decision may skip: the descendants of every gate's branches."""
    dependents = downstream_of(plan.schedules[dry_run])
    led: set[str] = set()
    for branches in gate_branches(plan, dry_run).values():
        led |= descendants((*branches.forward, *branches.fallback), dependents)
    return led


def branch_only(plan: Plan, dry_run: str, gate: str, decision: str) -> set[str]:
    """The steps ``decision`` ("go" or "no-go") on ``gate`` skips: what follows only the other branch."""
    branches = gate_branches(plan, dry_run)[gate]
    dependents = downstream_of(plan.schedules[dry_run])
    taken, dropped = (
        (branches.forward, branches.fallback)
        if decision == "go"
        else (branches.fallback, branches.forward)
    )
    return descendants(dropped, dependents) - descendants(taken, dependents)


def said_go(
    answers: Iterable[Mapping[str, Any]], handed: Iterable[tuple[str, str]] = ()
) -> list[str]:
    """The pairs of eyes that have said Go among a gate's ``answers`` (``by``, ``choice``), each
    once, in the order they first did, named by who said it first.

    Four eyes: a transfer hands a gate over, it does not add a reviewer. So someone the gate was
    handed to (``handed``: ``(from, to)`` pairs, the run's transfers of the gate) is the same pair
    of eyes as the person who handed it to them, and their two Go count once; otherwise one person
    could turn their own approval into two by handing the gate to a colleague. The gate can still
    be handed over (someone away gives their decision to a deputy), and the deputy's Go counts."""
    eyes: dict[str, str] = {}  # person -> the pair of eyes they are (union-find)

    def root(person: str) -> str:
        while eyes.get(person, person) != person:
            person = eyes[person]
        return person

    for giver, taker in handed:
        eyes[root(taker)] = root(giver)
    first: dict[str, str] = {}
    for answer in answers:
        if answer.get("choice") == Option.GO.value:
            first.setdefault(root(answer["by"]), answer["by"])
    return list(first.values())
