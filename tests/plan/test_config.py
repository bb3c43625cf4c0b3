"""Configuration: defaults, overrides, and messages that say which setting is wrong."""

from __future__ import annotations

import datetime as dt

import pytest

from transition.errors import ConfigError
from transition.plan.config import DEFAULT_CONFIG_PATH, load_config, resolve_config_path
from transition.plan.escalation import Ladder
from transition.settings import CONFIG as CONFIG_ENV


def messages(path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def test_defaults(tmp_path):
    (tmp_path / "c.yaml").write_text("name: resa\nworkbook: plan.xlsx\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.timezone == "Europe/Brussels" and config.lock_window_days == 5
    assert config.phase_codes == ["PP", "AC", "CO", "DC", "HO", "FB-RB"]
    assert [p.code for p in config.phases if p.conditional] == ["FB-RB"]
    assert config.workbook_path == tmp_path / "plan.xlsx"


def test_phase_shorthands(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "name: resa\nworkbook: p.xlsx\nphases: {PREP: Préparation, GO: Bascule}\n"
    )
    assert load_config(tmp_path / "c.yaml").phase_codes == ["PREP", "GO"]


def test_every_bad_setting_is_named(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "name: 'bad name'\nworkbook: p.xlsx\ntimezone: Mars/Olympus\ndefault_duration: forever\nlock_window: 3\n"
    )
    found = messages(tmp_path / "c.yaml")
    where = str(tmp_path / "c.yaml")
    assert f"{where}: name: String should match pattern '^[A-Za-z][A-Za-z0-9_-]{{0,49}}$'" in found
    assert (
        f"{where}: timezone: unknown time zone 'Mars/Olympus' (use an IANA name like Europe/Brussels)"
        in found
    )
    assert any(
        m.startswith(f"{where}: default_duration: cannot read duration 'forever'") for m in found
    )
    assert f"{where}: lock_window: unknown setting (check its spelling)" in found


def test_missing_settings_and_files(tmp_path):
    (tmp_path / "c.yaml").write_text("timezone: UTC\n")
    assert messages(tmp_path / "c.yaml") == [
        f"{tmp_path / 'c.yaml'}: name: missing setting",
        f"{tmp_path / 'c.yaml'}: workbook: missing setting",
    ]
    assert messages(tmp_path / "nope.yaml") == [
        f"{tmp_path / 'nope.yaml'}: configuration file not found"
    ]


def test_unknown_column_key_in_sheet_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "name: r\nworkbook: p.xlsx\nsheets: {steps: {columns: {owners: [Resp]}}}\n"
    )
    assert "unknown column key(s) owners" in messages(tmp_path / "c.yaml")[0]


def test_which_file(monkeypatch, tmp_path):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert resolve_config_path() == DEFAULT_CONFIG_PATH
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "other.yaml"))
    assert resolve_config_path() == tmp_path / "other.yaml"
    assert resolve_config_path("given.yaml").name == "given.yaml"


def test_bare_workbook_gets_the_defaults(tmp_path):
    config = load_config(tmp_path / "Plan 2027.xlsx")
    assert config.name == "Plan_2027" and config.source is None


def test_channels(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "name: resa\nworkbook: p.xlsx\nchannels:\n"
        "  - {connection: slack_cutover, messages: [ready, late, ready]}\n"
        "  - {connection: teams_cutover, messages: all}\n"
        "  - {connection: defects_room, messages: defect}\n"
    )
    channels = load_config(tmp_path / "c.yaml").channels
    assert [(c.connection, c.kinds) for c in channels] == [
        ("slack_cutover", ("ready", "late")),
        (
            "teams_cutover",
            (
                "ready",
                "late",
                "overdue",
                "decision",
                "transfer",
                "defect",
                "reminder",
                "heads_up",
                "end",
                "calendar",
                "substitution",
                "latest_safe",
            ),
        ),
        ("defects_room", ("defect",)),
    ]
    (tmp_path / "d.yaml").write_text("name: resa\nworkbook: p.xlsx\n")
    assert load_config(tmp_path / "d.yaml").channels == []


def test_bad_channels_are_named(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "name: resa\nworkbook: p.xlsx\nchannels:\n"
        "  - {connection: slack_cutover, messages: [ready, overdu]}\n"
        "  - {connection: teams cutover, messages: []}\n"
        "  - {connection: slack_cutover, messages: everything}\n"
        "  - {messages: all, room: x}\n"
    )
    where = f"{tmp_path / 'c.yaml'}: channels"
    known = (
        "ready, late, overdue, decision, transfer, defect, reminder, heads_up, end, calendar, "
        "substitution, latest_safe"
    )
    assert messages(tmp_path / "c.yaml") == [
        f"{where}.0.messages: unknown message 'overdu' (did you mean overdue?); known: {known}, or all",
        f"{where}.1.connection: String should match pattern '^[A-Za-z0-9_.-]{{1,250}}$'",
        f"{where}.1.messages: list at least one message, or write all ({known})",
        f"{where}.2.messages: unknown message 'everything'; known: {known}, or all",
        f"{where}.3.connection: missing setting",
        f"{where}.3.room: unknown setting (check its spelling)",
    ]
    (tmp_path / "d.yaml").write_text(
        "name: resa\nworkbook: p.xlsx\nchannels:\n"
        "  - {connection: slack_cutover, messages: [ready]}\n"
        "  - {connection: slack_cutover, messages: all}\n"
    )
    assert messages(tmp_path / "d.yaml") == [
        f"{tmp_path / 'd.yaml'}: channels: connection(s) listed twice: slack_cutover"
    ]


MINUTE = dt.timedelta(minutes=1)


def test_escalation_defaults_and_shorthands(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: resa\nworkbook: p.xlsx\n")
    default = (15 * MINUTE, 30 * MINUTE, 45 * MINUTE)
    assert load_config(path).ladder == Ladder(default, default)
    assert load_config(path).ladder.gate_warning == 30 * MINUTE
    path.write_text("name: resa\nworkbook: p.xlsx\nescalation: off\n")
    assert load_config(path).ladder == Ladder((), (), None, None)
    path.write_text("name: resa\nworkbook: p.xlsx\nescalation:\n")  # children commented out
    assert load_config(path).ladder == Ladder()
    path.write_text(
        "name: resa\nworkbook: p.xlsx\nescalation:\n  not_started: [1m, 2m, 1h]\n  overrun: off\n"
        "  heads_up: 20m\n  gate_warning: 2h\n"
    )
    assert load_config(path).ladder == Ladder(
        (MINUTE, 2 * MINUTE, 60 * MINUTE), (), 20 * MINUTE, 120 * MINUTE
    )
    path.write_text("name: resa\nworkbook: p.xlsx\nescalation: {gate_warning: off}\n")
    assert load_config(path).ladder == Ladder(gate_warning=None)
    path.write_text("name: resa\nworkbook: p.xlsx\nescalation: {not_started: 10, overrun: []}\n")
    assert load_config(path).ladder == Ladder((10 * MINUTE,), ())


def test_escalation_mistakes_are_named(tmp_path):
    path = tmp_path / "c.yaml"
    where = str(path)
    path.write_text(
        "name: resa\nworkbook: p.xlsx\nescalation:\n  not_started: [30m, 15m]\n"
        "  overrun: [1m, 2m, 3m, 4m]\n  managers: 1h\n"
    )
    assert sorted(messages(path)) == [
        f"{where}: escalation.managers: unknown setting (check its spelling)",
        f"{where}: escalation.not_started: '15m' comes after a longer or equal delay; "
        "write the delays in ascending order",
        f"{where}: escalation.overrun: 4 delays; the ladder has 3 rungs (whoever holds the "
        "step, then its team leader, then the cutover managers)",
    ]
    path.write_text(
        "name: resa\nworkbook: p.xlsx\n"
        "escalation: {overrun: [soon], heads_up: later, gate_warning: before}\n"
    )
    found = sorted(messages(path))
    assert found[0].startswith(f"{where}: escalation.gate_warning: cannot read duration 'before'")
    assert found[1].startswith(f"{where}: escalation.heads_up: cannot read duration 'later'")
    assert found[2].startswith(f"{where}: escalation.overrun: cannot read duration 'soon'")
