"""Cycles, dry-run projection and ordering on graphs built by hand."""

from __future__ import annotations

import pytest

from transition.plan.graph import find_cycles, project, topological_order


def test_projection_skips_a_removed_step_whose_prerequisites_are_removed_too():
    # A -> B -> C -> D and A -> E -> D; B and C are not in the dry run, nor is E.
    prerequisites = {"A": (), "B": ("A",), "C": ("B",), "E": ("A",), "D": ("C", "E")}
    assert project(prerequisites, ["A", "D"]) == {"A": (), "D": ("A",)}


def test_projection_keeps_every_nearest_included_ancestor():
    # X waits for R (removed), R waits for P and Q (both in), Q waits for removed S that waits for O.
    prerequisites = {"O": (), "S": ("O",), "P": (), "Q": ("S",), "R": ("P", "Q"), "X": ("R",)}
    projected = project(prerequisites, ["O", "P", "Q", "X"])
    assert projected == {"O": (), "P": (), "Q": ("O",), "X": ("P", "Q")}


def test_projection_of_a_deep_chain_does_not_recurse():
    n = 20_000
    prerequisites = {f"s{i}": ((f"s{i - 1}",) if i else ()) for i in range(n)}
    projected = project(prerequisites, ["s0", f"s{n - 1}"])
    assert projected[f"s{n - 1}"] == ("s0",)


def test_projection_with_everything_included_is_identity():
    prerequisites = {"A": (), "B": ("A",), "C": ("A", "B")}
    assert project(prerequisites, list(prerequisites)) == prerequisites


def test_cycles_are_found_per_component_with_their_path():
    prerequisites = {"A": ("C",), "B": ("A",), "C": ("B",), "D": (), "E": ("F",), "F": ("E",)}
    assert find_cycles(prerequisites) == [["A", "B", "C", "A"], ["E", "F", "E"]]


def test_no_cycle_in_a_dag_and_a_long_chain():
    n = 20_000
    prerequisites = {f"s{i}": ((f"s{i - 1}",) if i else ()) for i in range(n)}
    assert find_cycles(prerequisites) == []
    assert topological_order(prerequisites)[:3] == ["s0", "s1", "s2"]


def test_topological_order_refuses_a_cycle():
    with pytest.raises(ValueError):
        topological_order({"A": ("B",), "B": ("A",)})
