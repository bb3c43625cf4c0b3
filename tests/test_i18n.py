"""Languages: complete catalogues, and what people read in French and in English.

The catalogues must hold every message of the code and the templates, translated, in every language
(a message in one language only fails here), with the same placeholders, no obsolete entries, and
compiled .mo files that match their .po. Then the e-mails, the human-in-the-loop texts, the recap
page, the validator and the template workbook, each in both languages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import openpyxl
import pytest

from conftest import base_sheets, compile_sheets, write_config, write_xlsx
from transition import catalogues
from transition.i18n import _, format_moment, languages, normalise, translator, use_language
from transition.runner.watch_operator import WATCH_LABEL

TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))


def french_plan(tmp_path, **settings):
    """The base plan: alice and dave read French, bob English, carol the plan's default."""
    result = compile_sheets(tmp_path, base_sheets(), **settings)
    assert result.plan is not None, result.problems
    return result.plan


# -- the catalogues --------------------------------------------------------------------------------


def test_every_message_is_translated_in_every_language():
    template = catalogues.extract()
    assert len(template) > 200
    assert {"en", "fr"} <= set(catalogues.catalogue_languages())
    found = [
        p
        for language in catalogues.catalogue_languages()
        for p in catalogues.problems(template, language)
    ]
    assert found == [], "run `make messages` and translate:\n" + "\n".join(found)


def test_a_message_in_one_language_only_is_caught(tmp_path, monkeypatch):
    template = catalogues.extract()
    template.add("A message nobody translated")
    found = catalogues.problems(template, "fr")
    assert found == ["fr: not in the catalogue: 'A message nobody translated'"]
    # ... and one translated with a placeholder lost, or no longer in the code
    monkeypatch.setattr(catalogues, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(catalogues, "po_path", lambda language: tmp_path / f"{language}.po")
    catalog = catalogues.update(catalogues.extract(), "fr")
    message = catalog.get("Wrote {path}")
    message.string = "Écrit"
    catalog.add("Gone from the code", "Parti")
    catalogues.write(catalog, "fr")
    found = catalogues.problems(catalogues.extract(), "fr")
    assert "fr: placeholders [] instead of ['{path}']: 'Wrote {path}'" in found
    assert "fr: no longer in the code (obsolete): 'Gone from the code'" in found
    assert any("not translated" in line for line in found)  # the fresh catalogue's empty entries


def test_a_new_message_comes_in_english_for_english_only():
    template = catalogues.extract()
    template.add("A brand new message")
    english, french = catalogues.update(template, "en"), catalogues.update(template, "fr")
    assert english.get("A brand new message").string == "A brand new message"
    assert not french.get("A brand new message").string  # to translate, not silently English


def test_no_message_hides_in_an_f_string():
    """The extractor cannot see ``_()`` inside an f-string (Python 3.11): such a text would stay English."""
    hidden = []
    for path in sorted(catalogues.PACKAGE_DIR.glob("*.py")):
        with path.open("rb") as handle:
            for token in tokenize.tokenize(handle.readline):
                prefix = token.string.split('"')[0].split("'")[0].lower()
                if (
                    token.type == tokenize.STRING
                    and "f" in prefix
                    and any(call in token.string for call in ("_(", "gettext("))
                ):
                    hidden.append(f"{path.name}:{token.start[0]}")
    assert hidden == []


def test_languages_and_their_formats():
    assert languages() == ("en", "fr")
    assert [normalise(x) for x in ("FR", "fr_BE", "fr-BE", "nl", "", None)] == [
        "fr",
        "fr",
        "fr",
        "en",
        "en",
        "en",
    ]
    moment = dt.datetime(2027, 1, 16, 22, 0)
    assert format_moment(moment) == f"{moment:%a %d %b %Y %H:%M}" == "Sat 16 Jan 2027 22:00"
    with use_language("fr"):
        assert format_moment(moment) == "sam. 16 janv. 2027 22:00"
        assert format_moment(moment.date(), "date") == "sam. 16 janv. 2027"
        assert _("Execution") == "Exécution"
    assert _("Execution") == "Execution"
    assert (
        translator("fr").ngettext("{count} problem", "{count} problems", 2) == "{count} problèmes"
    )


# -- e-mails ---------------------------------------------------------------------------------------


def test_ready_email_in_the_owners_language(tmp_path):
    from transition.notifications.ready_mail import ready_message

    plan = french_plan(tmp_path)
    french = ready_message(
        plan,
        "DR1",
        plan.schedules["DR1"].steps["PP-010"],
        dag_id="resa_dr1",
        run_id="r",
        base_url="http://x",
        closed=[],
    )  # alice: fr
    english = ready_message(
        plan,
        "DR1",
        plan.schedules["DR1"].steps["PP-020"],
        dag_id="resa_dr1",
        run_id="r",
        base_url="http://x",
        closed=["PP-010 · Freeze billing runs, closed by Alice Martin"],
    )  # bob: en
    assert french["Subject"] == "[Transition-DR1] PP-010 - Exécution"
    assert english["Subject"] == "[Transition-DR1] PP-020 - Execution"
    text, html = french.get_body(("plain",)).get_content(), french.get_body(("html",)).get_content()
    assert text.startswith(
        "Bonjour Alice Martin,\n\nL'étape PP-010 · Freeze billing runs du dry run DR1 est prête"
    )
    assert "Début prévu:" in text and "jeu. 14 janv. 2027 08:00" in text and "(durée 1h)" in text
    assert (
        "À faire\n-------\nStop the billing batch." in text
        and "Les heures sont en Europe/Brussels." in text
    )
    assert (
        '<html lang="fr">' in html
        and "Ouvrir l'étape dans Airflow" in html
        and "Chef de département" in html
    )
    assert "Hello" not in text + html and "Planned" not in text + html
    text, html = (
        english.get_body(("plain",)).get_content(),
        english.get_body(("html",)).get_content(),
    )
    assert (
        text.startswith("Hello Bob Peeters,")
        and "Planned start:" in text
        and '<html lang="en">' in html
    )
    assert "Bonjour" not in text + html


def test_late_overdue_transfer_and_failure_emails(tmp_path, monkeypatch):
    from transition.notifications.alert_mail import alert_message, announce_mail_failures

    plan = french_plan(tmp_path, cutover_managers=["dave", "bob"])  # dave reads French, bob English
    schedule = plan.schedules["DR1"].steps
    late = alert_message(
        plan,
        "DR1",
        schedule["CO-110"],
        kind="late",
        dag_id="d",
        run_id="r",
        base_url="http://x",
        late_at=dt.datetime(2027, 1, 16, 22, 0, tzinfo=dt.UTC),
    )  # alice: fr
    assert late["Subject"] == "[Transition-DR1] CO-110 - En retard"
    text = late.get_body(("plain",)).get_content()
    assert text.startswith(
        "L'étape CO-110 devait être clôturée pour le sam. 16 janv. 23:00 (durée 30m)"
    )
    assert "Exécutant:" in text and "Ouvrir l'étape : http://x/transition/steps/" in text
    assert "Dans Airflow : http://x/dags/" in text  # Airflow's Required Actions, second
    overdue = alert_message(
        plan,
        "DR1",
        schedule["CO-100"],
        kind="overdue",
        dag_id="d",
        run_id="r",
        base_url="http://x",
        holding=["PP-020"],
    )  # carol: the plan's default, en
    assert overdue["Subject"] == "[Transition-DR1] CO-100 - Overdue"
    assert "should have started at Sat 16 Jan 22:00 but is still waiting for 1 prerequisite." in (
        overdue.get_body(("plain",)).get_content()
    )

    from transition.notifications import deliver

    sent = []
    monkeypatch.setattr(deliver, "send", sent.append)
    failures = [
        {
            "step": "CO-100",
            "mail": "ready",
            "to": "carol@example.com",
            "at": "2027-01-16T21:00:00+00:00",
            "error": "refused",
        },
        {
            "step": WATCH_LABEL,
            "mail": "overdue",
            "to": "x@example.com",
            "at": "2027-01-16T21:05:00+00:00",
            "error": "refused",
        },
    ]
    assert announce_mail_failures(plan, "DR1", {}, failures) is True
    assert [(m["Subject"], m["To"]) for m in sent] == [
        ("[Transition-DR1] 2 e-mails n'ont pas pu être envoyés", "dave@example.com"),
        ("[Transition-DR1] 2 e-mails could not be sent", "bob@example.com"),
    ]
    french = sent[0].get_body(("plain",)).get_content()
    assert "- CO-100 : e-mail « étape prête » à carol@example.com" in french
    assert (
        "- (veille du dry run : alerte de début dépassé ou agenda) : e-mail « étape au début dépassé »"
        in french
    )
    assert (
        "- CO-100: ready e-mail to carol@example.com" in sent[1].get_body(("plain",)).get_content()
    )


def test_deadline_email_per_manager_language(tmp_path, monkeypatch):
    from transition.notifications import deadline_mail

    plan = french_plan(tmp_path, cutover_managers=["dave", "bob"])
    alert = deadline_mail.dry_run_deadline(plan, "DR1")
    kwargs = alert.callback.kwargs
    assert kwargs["languages"] == {
        "fr": {"to": ["dave@example.com"], "end": "mar. 19 janv. 2027 18:00 (Europe/Brussels)"},
        "en": {"to": ["bob@example.com"], "end": "Tue 19 Jan 2027 18:00 (Europe/Brussels)"},
    }
    from transition.notifications import deliver

    sent = []
    monkeypatch.setattr(deliver, "send", sent.append)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example.com")
    asyncio.run(
        deadline_mail.notify_dry_run_late(
            **kwargs, context={"dag_run": {"dag_id": "resa_dr1", "dag_run_id": "r1"}}
        )
    )
    assert [m["Subject"] for m in sent] == [
        "[Transition-DR1] Dry run toujours en cours après sa fin (mar. 19 janv. 2027 18:00 (Europe/Brussels))",
        "[Transition-DR1] Dry run still running after its end (Tue 19 Jan 2027 18:00 (Europe/Brussels))",
    ]
    assert (
        "Vous recevez cet e-mail en tant que responsable de la bascule"
        in sent[0].get_body(("plain",)).get_content()
    )


def test_weekly_report_and_results_workbook_in_french():
    from run_samples import DEFECTS, RUN, TRANSFERS, recap
    from transition.results.data import run_results_from_json
    from transition.results.weekly_report import weekly_message

    results = run_results_from_json(recap(), RUN, DEFECTS, TRANSFERS)
    with use_language("fr"):
        message = weekly_message(results, [], ["dave@example.com"], "http://airflow:8080/")
    assert message["Subject"] == "[Transition-DR1] Rapport hebdomadaire 16 janv. 2027"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Rapport hebdomadaire du dry run DR1 du plan resa.")
    assert "\nÉtapes clôturées:    1 sur 4\n" in text  # the labels aligned on the longest
    assert "\nFin estimée:         sam. 16 janv. 2027 13:30 — après la fin du dry run\n" in text
    assert (
        "- B · Label of B — Bob X (bob), transférée à Frank Claes; démarrée le sam. 16 janv. 2027 09:40 par "
        "Frank Claes, échéance le sam. 16 janv. 2027 11:15"
    ) in text
    assert (
        "- #7 Queue not empty (étape B, majeure), enregistrée par Frank Claes le sam. 16 janv. 2027 09:50"
        in text
    )
    phase_lines = text.split("Étapes par phase")[1].splitlines()
    assert phase_lines[2].split() == [
        "Phase",
        "Planifiée",
        "Début",
        "dépassé",
        "En",
        "retard",
        "Terminée",
    ]
    assert '<html lang="fr">' in message.get_body(("html",)).get_content()
    (attachment,) = list(message.iter_attachments())
    book = openpyxl.load_workbook(io.BytesIO(attachment.get_content()))
    assert book.sheetnames == ["Étapes", "Anomalies", "Exécution"]
    steps = book["Étapes"]
    header = [c.value for c in steps[1]]
    assert header[:5] == ["ID", "Libellé", "Phase", "État", "Exécutant"]
    rows = {r[0]: dict(zip(header, r)) for r in steps.iter_rows(min_row=2, values_only=True)}
    assert (
        rows["B"]["État"] == "En retard"
        and rows["B"]["Anomalies"] == "#7 majeure ouverte: Queue not empty"
    )
    run = {r[0]: r[1] for r in book["Exécution"].iter_rows(values_only=True)}
    assert (
        run["Retard estimé"] == "oui"
        and run["Étapes En retard"] == 1
        and run["Fuseau horaire"] == "Europe/Brussels"
    )


def test_weekly_report_dag_writes_one_email_per_manager_language(tmp_path, monkeypatch):
    from transition.results.weekly_report import build_weekly_report_dag

    plan = french_plan(tmp_path, cutover_managers=["dave", "bob", "alice"])
    dag = build_weekly_report_dag(
        plan, "0 8 * * 1", ["dave@example.com", "bob@example.com", "alice@example.com"]
    )
    callable_ = dag.get_task("send_weekly_report").python_callable
    assert callable_.keywords["by_language"] == {
        "fr": ["dave@example.com", "alice@example.com"],
        "en": ["bob@example.com"],
    }


def test_calendar_email_and_events_in_the_owners_language(tmp_path):
    import icalendar

    from transition.notifications import calendar_mail
    from transition.notifications.calendar_ics import owner_events

    plan = french_plan(tmp_path, cutover_managers=["dave"])
    run_id = "manual__2027-01-10T09:00:00+00:00"
    french = calendar_mail.calendar_message(
        plan,
        "DR1",
        "alice",
        owner_events(plan, "DR1", "alice", run_id=run_id),
        kind="update",
        run_id=run_id,
        sequence=1,
    )
    english = calendar_mail.calendar_message(
        plan,
        "DR1",
        "bob",
        owner_events(plan, "DR1", "bob", run_id=run_id),
        kind="invitation",
        run_id=run_id,
        sequence=0,
    )
    assert (french["Subject"], english["Subject"]) == (
        "[Transition-DR1] Agenda - Mise à jour",
        "[Transition-DR1] Calendar - Invitation",
    )
    text = french.get_body(("plain",)).get_content()
    assert text.startswith("Bonjour Alice Martin,\n\nVos étapes du dry run DR1 ont changé")
    assert "- jeu. 14 janv. 2027 08:00 – 09:00  PP-010 · Freeze billing runs" in text
    (ics,) = [p for p in french.iter_attachments() if p.get_content_type() == "text/calendar"]
    event = next(iter(icalendar.Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")))
    assert str(event["DESCRIPTION"]).startswith(
        "Étape PP-010 · Freeze billing runs — dry run DR1 du plan resa\nPhase : PP"
    )
    assert "Hello Bob Peeters," in english.get_body(("plain",)).get_content()


# -- human-in-the-loop -----------------------------------------------------------------------------


def test_hitl_body_and_form_in_the_owners_language(tmp_path):
    from transition.notifications.request_text import body, subject
    from transition.runner.step_operator import form

    plan = french_plan(tmp_path)
    french = body(plan, "DR1", plan.schedules["DR1"].steps["CO-110"])  # alice
    english = body(plan, "DR1", plan.schedules["DR1"].steps["CO-100"])  # carol: default en
    assert "| **Début prévu** |" in french and "### À faire" in french and "### Comment" in french
    assert "Appuyez sur **Start** quand vous commencez cette étape." in french
    assert "| **Attend** | CO-100 · Switch market gateway |" in french
    assert (
        "| **Planned start** |" in english
        and "Press **Start** when you begin this step." in english
    )
    assert "(pas avant J-2 08:00)" in body(
        plan, "DR1", plan.schedules["DR1"].steps["PP-010"]
    )  # alice's; D is J
    assert "(not before D+0 22:00)" in english
    assert subject(plan, "CO-110") == "CO-110 · Smoke test gateway"  # no words to translate
    assert form("fr")["comment"]["schema"]["title"] == "Commentaire"
    assert form("en")["comment"]["schema"]["title"] == "Comment"


def test_every_dag_task_asks_in_its_owners_language(tmp_path, monkeypatch):
    from transition.runner.dag_builder import build_dag

    plan = french_plan(tmp_path)
    dag = build_dag(plan, "DR1")
    assert {t.task_id: t.language for t in dag.tasks if t.task_id != "_watch"} == {
        "PP-010": "fr",
        "PP-020": "en",
        "CO-100": "en",
        "CO-110": "fr",
        "HO-010": "fr",
    }
    assert "* **D-day**: Saturday 16 January 2027" in dag.doc_md  # the plan's language: en
    french = build_dag(french_plan(tmp_path, language="fr"), "DR1")
    assert (
        "* **Jour J**: samedi 16 janvier 2027" in french.doc_md
        and "Déclenchez ce DAG" in french.doc_md
    )


# -- the recap page --------------------------------------------------------------------------------


class _User:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_id(self) -> str:
        return self.name


def test_recap_page_in_the_users_language(tmp_path, monkeypatch):
    from starlette.requests import Request

    from transition.web import permissions, step_api

    plan = french_plan(tmp_path)
    monkeypatch.setattr(permissions, "current_plan", lambda: plan)
    at_root = Request({"type": "http", "root_path": "/transition", "headers": []})

    def recap(user: str, **options) -> str:
        return step_api.recap(at_root, _User(user), **options).body.decode()

    french = recap("alice")
    assert '<html lang="fr">' in french and "Légende" in french
    assert "Début dépassé: début atteint, prérequis non terminés" in french  # the legend
    assert '<option value="Overdue">Début dépassé</option>' in french
    assert '"no_run": "Pas encore d\'exécution de ce dry run' in french
    english = recap("bob")
    assert (
        '<html lang="en">' in english
        and "Overdue: start reached, prerequisites not done" in english
    )
    assert '<html lang="en">' in recap("alice", lang="en")  # ?lang=en
    assert '<html lang="en">' in recap("admin")  # not an actor: the plan's default
    # The page fetches its data under Airflow's path: at the root, and behind a proxy's /airflow.
    assert 'fetch("/transition/api" + path' in english
    proxied = Request({"type": "http", "root_path": "/airflow/transition", "headers": []})
    behind = step_api.recap(proxied, _User("bob")).body.decode()
    assert 'fetch("/airflow/transition/api" + path' in behind


# -- the validator and the command line ------------------------------------------------------------


def test_validator_messages_in_the_plans_language(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][3][7] = "carl"  # CO-100's owner
    sheets["Steps"][4][4] = "CO-100, ZZ-1"
    sheets["Steps"][2][6] = "2 heures"
    result = compile_sheets(tmp_path, sheets, language="fr")
    with use_language("fr"):  # what the command line and the DAG files do (plan_store)
        french = compile_sheets(tmp_path, sheets, language="fr").problems
    assert [str(p) for p in result.problems] == [
        "Steps!G3: cannot read duration '2 heures'; write it like 45m, 2h, 1h30, 1d, 01:30 or a number of minutes",
        "Steps!H4: unknown owner 'carl' (did you mean 'carol'?)",
        "Steps!E5: unknown prerequisite 'ZZ-1'",
    ]
    assert [str(p) for p in french] == [
        "Steps!G3: durée '2 heures' illisible ; écrivez-la comme 45m, 2h, 1h30, 1j, 01:30 ou un nombre de minutes",
        "Steps!H4: exécutant 'carl' inconnu (vouliez-vous dire 'carol' ?)",
        "Steps!E5: prérequis 'ZZ-1' inconnu",
    ]


def test_the_dag_files_show_problems_in_the_plans_language(tmp_path, monkeypatch):
    from transition.store.plan_store import load_plan

    monkeypatch.setenv("TRANSITION_CACHE_DIR", str(tmp_path / "cache"))
    sheets = base_sheets()
    sheets["Steps"][3][7] = "nobody"
    write_xlsx(tmp_path / "plan.xlsx", sheets)
    loaded = load_plan(write_config(tmp_path / "config.yaml", "plan.xlsx", language="fr"))
    assert [str(p) for p in loaded.errors] == ["Steps!H4: exécutant 'nobody' inconnu"]
    assert [
        str(p) for p in load_plan(write_config(tmp_path / "config.yaml", "plan.xlsx")).errors
    ] == ["Steps!H4: unknown owner 'nobody'"]


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    assert TRANSITION, "the transition console script is not installed in this venv"
    environment = {k: v for k, v in os.environ.items() if k != "TRANSITION_CONFIG"} | env
    return subprocess.run(
        [TRANSITION, *args], capture_output=True, text=True, timeout=120, env=environment
    )


def test_cli_follows_lang_else_the_plans_default(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][3][7] = "nobody"
    write_xlsx(tmp_path / "plan.xlsx", sheets)
    french_config = write_config(tmp_path / "config.yaml", "plan.xlsx", language="fr")
    done = run("validate", str(french_config))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Le plan a 1 problème :",
        "Steps!H4: exécutant 'nobody' inconnu",
    ]
    done = run("validate", str(french_config), "--lang", "en")
    assert done.stderr.splitlines() == [
        "The plan has 1 problem:",
        "Steps!H4: unknown owner 'nobody'",
    ]
    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    done = run("validate", str(french_config))
    assert done.returncode == 0 and done.stdout.startswith(
        "Le plan 'resa' (plan.xlsx) est valide : 5 étapes-actions"
    )
    assert run("validate", str(french_config), "--lang", "nl").returncode == 2


def test_template_instructions_in_lang(tmp_path):
    for language, first, sheet in (
        ("fr", "Plan de transition : comment remplir ce classeur", "Instructions"),
        ("en", "Transition plan: how to fill in this workbook", "Instructions"),
    ):
        out = tmp_path / f"blank-{language}.xlsx"
        done = run("template", str(out), "--lang", language)
        assert done.returncode == 0, done.stderr
        book = openpyxl.load_workbook(out)
        lines = [row[0].value for row in book[sheet].iter_rows()]
        assert lines[0] == first
        assert book.sheetnames[1:] == [
            "Steps",
            "Actors",
            "DryRuns",
            "Environments",
        ]  # the contract's names
    french = [
        row[0].value
        for row in openpyxl.load_workbook(tmp_path / "blank-fr.xlsx")["Instructions"].iter_rows()
    ]
    assert any("CO = Bascule" in line for line in french)
    validations = openpyxl.load_workbook(tmp_path / "blank-fr.xlsx")[
        "Steps"
    ].data_validations.dataValidation
    assert {v.prompt for v in validations if v.prompt} == {
        "Un ou plusieurs dry runs, séparés par des virgules, ou ALL",
        "Un ID d'acteur de la feuille Actors",
    }


def test_config_language_must_have_a_catalogue(tmp_path):
    from transition.errors import ConfigError
    from transition.plan.config import load_config

    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path / "config.yaml", "plan.xlsx", language="nl"))
    assert str(error.value.problems[0]).endswith(
        "config.yaml: language: unknown language 'nl' (use en, fr)"
    )


def test_catalogue_tool_check_passes():
    done = subprocess.run(
        [sys.executable, "-m", "transition.cli.catalogues", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.endswith("translated in en, fr\n")
