"""The Ready e-mail as a message: recipients, subject, link, both bodies, escaping."""

from __future__ import annotations

from conftest import base_sheets, compile_sheets
from transition.notifications.ready_mail import ready_message


def plan_with(tmp_path, sheets):
    result = compile_sheets(tmp_path, sheets)
    assert result.plan is not None, result.problems
    return result.plan


def test_ready_message(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][3][1] = "Switch <b>market</b> gateway & co"
    sheets["Steps"][3][9] = "1. Stop the *gateway*\n2. <script>alert('x')</script> switch"
    plan = plan_with(tmp_path, sheets)
    message = ready_message(
        plan,
        "DR1",
        plan.schedules["DR1"].steps["CO-100"],
        dag_id="resa_dr1",
        run_id="manual__2027-01-16T21:00:00+00:00",
        base_url="https://airflow.example.com/",
        closed=["PP-020 · Export EAN register, closed by Bob Peeters at Sat 16 Jan 21:40"],
    )
    assert message["Subject"] == "[Transition-DR1] CO-100 - Execution"
    assert message["To"] == "carol@example.com"
    assert message["X-Transition-Step"] == "resa_dr1/CO-100"
    assert message["X-Transition-Run"] == "resa_dr1/manual__2027-01-16T21:00:00+00:00"
    assert (
        message["Cc"] == "dave@example.com"
    )  # carol leads her own team; dave heads the department
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = (
        "https://airflow.example.com/dags/resa_dr1/runs/manual__2027-01-16T21%3A00%3A00%2B00%3A00"
        "/tasks/CO-100/required_actions?map_index=-1"
    )
    assert link in text and f'href="{link}"' in html
    assert (
        "Switch &lt;b&gt;market&lt;/b&gt; gateway &amp; co" in html and "<b>market</b>" not in html
    )
    assert "<script>" not in html and "&lt;script&gt;" in html and "<em>gateway</em>" in html
    assert "Sat 16 Jan 2027 22:00" in text and "PRD — Production" in text
    assert "closed by Bob Peeters at Sat 16 Jan 21:40" in text and "closed by Bob Peeters" in html
    assert "Switch <b>market</b> gateway & co" in text  # plain text stays as written


def test_owner_copies_leader_and_head_once(tmp_path):
    plan = plan_with(tmp_path, base_sheets())
    message = ready_message(
        plan,
        "DR1",
        plan.schedules["DR1"].steps["PP-010"],
        dag_id="d",
        run_id="r",
        base_url="http://x",
        closed=[],
    )
    assert (message["To"], message["Cc"]) == (
        "alice@example.com",
        "carol@example.com, dave@example.com",
    )
    # alice reads French (her Language in the Actors sheet)
    assert (
        "Aucun : cette étape n'attend que son heure de début prévue."
        in message.get_body(("html",)).get_content()
    )


class Ledger:
    """The task's sent-ledger as stored (JSON), without the Airflow Variables a task's supervisor gives."""

    store: dict[str, dict] = {}

    def __init__(self, dag_id, run_id, task_id) -> None:
        self.key = f"{dag_id}/{run_id}/{task_id}"

    def get(self, what, default=None):
        return self.store.setdefault(self.key, {}).get(what, default)

    def mark(self, what, value):
        import json

        self.store.setdefault(self.key, {})[what] = json.loads(json.dumps(value))


class TI:
    dag_id, run_id, task_id = "resa_dr1", "r", "CO-100"

    def __init__(self) -> None:
        self.xcom: dict = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value

    def xcom_pull(self, task_ids=None, key=None):
        return self.xcom.get(key)


def test_a_ready_email_that_cannot_be_built_is_recorded_as_failed(tmp_path, monkeypatch):
    """Not only a refused send: a message that could not even be built is a failure the cutover
    managers hear of (the run's watch reads ``mail_failures``), not something quietly dropped."""
    from transition.notifications import ready_mail
    from transition.runs import mail_failures

    Ledger.store = {}
    monkeypatch.setattr(mail_failures, "SentLedger", Ledger)

    def unbuildable(*args, **kwargs):
        raise ValueError("Header values may not contain linefeed or carriage return characters")

    monkeypatch.setattr(ready_mail, "ready_message", unbuildable)
    plan = plan_with(tmp_path, base_sheets())
    ti = TI()
    ready_mail.announce_ready(
        plan, "DR1", plan.schedules["DR1"].steps["CO-100"], {"ti": ti}
    )  # does not raise
    failures = ti.xcom["mail_failures"]
    assert [(f["mail"], f["to"]) for f in failures] == [("ready", "carol@example.com")]
    assert failures[0]["error"].startswith("ValueError: Header values may not contain")
    assert Ledger.store["resa_dr1/r/CO-100"]["mail_failures"] == failures


def test_a_take_over_email_says_what_failed_and_its_last_lines_in_the_readers_language(tmp_path):
    """CO-110 is a check whose SQL failed; its owner alice reads French (the plan is in English):
    the sentence is hers, what the action printed is as printed, in both bodies."""
    from conftest import STEPS_HEADER, write_config, write_xlsx
    from transition.plan.compiler import compile_plan
    from transition.plan.config import load_config

    sheets = base_sheets()
    sheets["Steps"][0] = [*STEPS_HEADER, "Kind", "Approvals", "Action", "Expect"]
    for row in sheets["Steps"][1:]:
        row.extend(["check", None, "count_rows", "> 0"] if row[0] == "CO-110" else [None] * 4)
    (tmp_path / "actions.yaml").write_text(
        "actions:\n  count_rows: {kind: sql, connection: db, sql: SELECT count(*) FROM ean}\n",
        encoding="utf-8",
    )
    write_xlsx(tmp_path / "plan.xlsx", sheets)
    config = write_config(tmp_path / "config.yaml", "plan.xlsx", actions="actions.yaml")
    plan = compile_plan(load_config(config)).plan
    assert plan is not None
    run = {
        "try_number": 1,
        "started": "2027-01-16T22:00:00+00:00",
        "ended": "2027-01-16T22:00:02+00:00",
        "ok": False,
        "said": 'UndefinedTable: relation "ean" does not exist',
        "tail": ['psycopg2.errors.UndefinedTable: relation "ean" does not exist', "LINE 1: <x>"],
    }
    message = ready_message(
        plan,
        "DR1",
        plan.schedules["DR1"].steps["CO-110"],
        dag_id="d",
        run_id="r",
        base_url="http://x",
        closed=[],
        failure=run,
    )
    assert message["Subject"] == "[Transition-DR1] CO-110 - Reprise en main"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    said = 'L\'action count_rows a échoué : UndefinedTable: relation "ean" does not exist'
    assert said in text and "Ses dernières lignes :" in text and "    LINE 1: <x>" in text
    assert "LINE 1: &lt;x&gt;" in html and "<x>" not in html
    assert "échoué" in html
