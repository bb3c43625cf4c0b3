"""Languages on a real Airflow with a real SMTP server (aiosmtpd).

Three owners: alice reads French (Langue: fr), bob English (Language: en), carol has no language and
gets the plan's (language: fr in config.yaml). Each gets the Ready e-mail of their step in their
language, with the subject's shape kept; the requests on the Required Actions page are in the owner's
language; the recap page in the user's; a transfer e-mails the new person in theirs, and the plugin
refuses a stranger in the stranger's language. The plan's chat channels (a Slack webhook connection
for the Ready messages, an Apprise one for all) get them in the plan's language, posted to a local
HTTP receiver standing in for the webhooks: the Ready messages, the transfer. A third channel, for
transfers, refuses: the api-server keeps the failure for the run's watch, which tells the cutover
manager (dave) once.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
import zoneinfo
from urllib.parse import quote

import pytest

from airflow_server import AirflowServer, airflow_with_mail
from conftest import write_config, write_xlsx
from transition.store.plan_store import load_plan
from webhook_receiver import WebhookReceiver

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.e2e
DAG_ID = "lang_dr1"


def write_plan(folder):
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Etapes": [  # French headers: the contract's aliases
                [
                    "Identifiant",
                    "Libellé",
                    "Phase",
                    "Dry run",
                    "Prérequis",
                    "Exécutant",
                    "Instructions",
                    "Durée",
                ],
                [
                    "A",
                    "Geler la facturation",
                    "PP",
                    "ALL",
                    "",
                    "alice",
                    "Lancer **freeze.sh**.",
                    "1h",
                ],
                ["B", "Export the EAN register", "PP", "ALL", "", "bob", "Export it.", "1h"],
                ["C", "Basculer la passerelle", "CO", "ALL", "A", "carol", "", "1h"],
            ],
            "Executants": [
                [
                    "ID",
                    "Nom",
                    "Courriel",
                    "Équipe",
                    "Chef d'équipe",
                    "Chef de département",
                    "Langue",
                ],
                ["alice", "Alice Martin", "alice@example.com", "Facturation", "", "", "fr"],
                ["bob", "Bob Peeters", "bob@example.com", "Market", "", "", "en"],
                ["carol", "Carol Dubois", "carol@example.com", "Market", "", "", ""],
                ["dave", "Dave Lambert", "dave@example.com", "Direction", "", "", "en"],
            ],
            "Dates": [["Nom", "Jour J"], ["DR1", today]],
        },
    )
    write_config(
        folder / "config.yaml",
        "plan.xlsx",
        name="lang",
        language="fr",
        cutover_managers=["dave"],
        channels=[
            {"connection": "slack_cutover", "messages": ["ready"]},
            {"connection": "teams_cutover", "messages": "all"},
            {"connection": "broken_cutover", "messages": ["transfer"]},
        ],
    )


def test_each_owner_reads_their_language(tmp_path):
    write_plan(tmp_path)
    plan = load_plan(tmp_path / "config.yaml").plan
    assert {a.id: a.language for a in plan.actors.values()} == {
        "alice": "fr",
        "bob": "en",
        "carol": "fr",
        "dave": "en",
    }
    with (
        WebhookReceiver() as receiver,
        airflow_with_mail(tmp_path, plan, extra_env=channel_connections(receiver)) as (
            server,
            smtp,
        ),
    ):
        server.wait_for_dag(DAG_ID)
        run_id = server.trigger(DAG_ID)

        # The Ready e-mails, read from the SMTP server.
        french = smtp.wait_for("[Transition-DR1] A - Exécution")
        english = smtp.wait_for("[Transition-DR1] B - Execution")
        assert (french["To"], english["To"]) == ("alice@example.com", "bob@example.com")
        text, html = body(french, "plain"), body(french, "html")
        assert text.startswith(
            "Bonjour Alice Martin,\n\nL'étape A · Geler la facturation du dry run DR1 est prête : "
            "ses prérequis sont clôturés."
        )
        assert (
            "À faire\n-------\nLancer **freeze.sh**." in text
            and "Les heures sont en Europe/Brussels." in text
        )
        assert '<html lang="fr">' in html and "Ouvrir l'étape dans Airflow" in html
        assert "<strong>freeze.sh</strong>" in html and "Hello" not in text + html
        text, html = body(english, "plain"), body(english, "html")
        assert text.startswith(
            "Hello Bob Peeters,\n\nStep B · Export the EAN register of dry run DR1 is ready: "
        )
        assert '<html lang="en">' in html and "Bonjour" not in text + html

        # The channels: the Ready messages in the plan's French, bob's too (a channel is a room).
        step_a = f"{server.base_url}/transition/steps/{DAG_ID}/{quote(run_id, safe='')}/A"
        slack_a = receiver.wait_for("[Transition-DR1] A - Exécution").body["text"].split("\n")
        assert slack_a[:3] == [
            "*[Transition-DR1] A - Exécution*",
            "A · Geler la facturation",
            "Exécutant : Alice Martin",
        ]
        assert slack_a[-1] == step_a, slack_a  # the step's page
        assert "*[Transition-DR1] B - Exécution*" in receiver.wait_for("B - Exécution").body["text"]
        for step in "AB":
            teams = receiver.wait_for(f"[Transition-DR1] {step} - Exécution", path="/teams")
            assert teams.body["message"].startswith(f"{step} · "), teams

        # The requests on the Required Actions page: the owner's language.
        bodies = asked(server, run_id, {"A", "B"})
        assert (
            "### À faire" in bodies["A"]["body"] and "Appuyez sur **Start**" in bodies["A"]["body"]
        )
        assert bodies["A"]["params"]["comment"]["schema"]["title"] == "Commentaire"
        assert (
            "### What to do" in bodies["B"]["body"]
            and bodies["B"]["params"]["comment"]["schema"]["title"] == "Comment"
        )
        assert (
            bodies["A"]["options"] == bodies["B"]["options"] == ["Start", "Close"]
        )  # the REST API's values

        # The recap page: the user's language, or ?lang=; its script writes in it too (chromium).
        with server.client("alice") as alice, server.client("bob") as bob:
            assert "Légende" in alice.get("/transition/recap").text
            assert 'aria-label="Legend"' in bob.get("/transition/recap").text
            assert '<html lang="en">' in alice.get("/transition/recap", params={"lang": "en"}).text
        counts, status = recap_in_a_browser(server, "alice")
        assert counts == "Planifiée 1 Prête 2 3 affichées sur 3" and status.startswith(
            "Mis à jour à "
        ), (counts, status)
        counts, status = recap_in_a_browser(server, "bob")
        assert counts == "Planned 1 Ready 2 3 shown of 3" and status.startswith("Updated "), (
            counts,
            status,
        )

        # A transfer to bob: the e-mail is in bob's language. carol may not act on B: refused in French.
        with server.client("alice") as alice:
            handed = alice.post(
                f"/transition/api/dags/{DAG_ID}/runs/{run_id}/steps/A/transfer",
                json={"to": "bob", "message": "En congé"},
            )
        assert handed.status_code == 200, handed.text
        transfer = smtp.wait_for("[Transition-DR1] A - Transfer")
        posted = receiver.wait_for("[Transition-DR1] A - Transfert", path="/teams")
        assert posted.body["message"].startswith(
            "Alice Martin confie l'étape A · Geler la facturation à Bob Peeters.\n"
            "Message : En congé\n"
        )
        assert transfer["To"] == "bob@example.com"
        # The broken channel's failure reaches the cutover manager through the run's watch.
        summary = smtp.wait_for("[Transition-DR1] 1 e-mail could not be sent", timeout=60)
        assert summary["To"] == "dave@example.com"
        assert "- A: transfer message to channel broken_cutover at " in body(summary, "plain")
        assert "Alice Martin hands step A · Geler la facturation over to you." in body(
            transfer, "plain"
        )
        with server.client("carol") as carol:
            refused = carol.post(
                f"/transition/api/dags/{DAG_ID}/runs/{run_id}/steps/B/transfer",
                json={"to": "carol"},
            )
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("Vous ne pouvez pas agir sur l'étape B")

        # A blocking defect on the run itself (dave, a cutover manager): his e-mail in English,
        # the channel's message in the plan's French.
        with server.client("dave") as dave:
            recorded = dave.post(
                f"/transition/api/dags/{DAG_ID}/runs/{run_id}/defects",
                json={"title": "VPN coupé", "severity": "blocking"},
            )
        assert recorded.status_code == 201, recorded.text
        assert recorded.json()["mail"] == "sent"
        run_defect = smtp.wait_for("[Transition-DR1] Blocking defect on the run: VPN coupé")
        assert run_defect["To"] == "dave@example.com"
        posted = receiver.wait_for(
            "[Transition-DR1] Anomalie bloquante sur l'exécution : VPN coupé", path="/teams"
        )
        assert posted.body["message"].startswith(
            f"Une anomalie bloquante a été enregistrée sur l'exécution {run_id} du dry run DR1, "
            "pas sur une étape.\nAnomalie : #"
        ), posted.body

        # C (carol: the plan's French) is Ready once A is closed.
        assert server.answer_when_asked("alice", DAG_ID, run_id, "A", "Close").status_code == 200
        ready_c = smtp.wait_for("[Transition-DR1] C - Exécution")
        receiver.wait_for("[Transition-DR1] C - Exécution", path="/teams")
        assert "- A · Geler la facturation, clôturée par Alice Martin le " in body(ready_c, "plain")
        assert server.answer_when_asked("bob", DAG_ID, run_id, "B", "Close").status_code == 200
        assert server.answer_when_asked("carol", DAG_ID, run_id, "C", "Close").status_code == 200
        assert server.wait_for_run(DAG_ID, run_id) == "success"
        subjects = sorted(
            str(m["Subject"]) for m in smtp.messages if " Calendar - " not in str(m["Subject"])
        )
        assert subjects == sorted(
            [
                "[Transition-DR1] A - Exécution",
                "[Transition-DR1] B - Execution",
                "[Transition-DR1] A - Transfer",
                "[Transition-DR1] Blocking defect on the run: VPN coupé",
                "[Transition-DR1] C - Exécution",
                "[Transition-DR1] 1 e-mail could not be sent",  # once
            ]
        ), subjects
        # The Slack channel gets the Ready messages only; each message went to each channel once.
        slack = [
            p.body["text"].split("\n")[0] for p in receiver.posted if p.path.endswith("/slack")
        ]
        assert sorted(slack) == [f"*[Transition-DR1] {s} - Exécution*" for s in "ABC"], slack
        titles = sorted(p.body["title"] for p in receiver.posted if p.path == "/teams")
        assert titles == sorted(
            [f"[Transition-DR1] {s} - Exécution" for s in "ABC"]
            + [
                "[Transition-DR1] A - Transfert",
                "[Transition-DR1] Anomalie bloquante sur l'exécution : VPN coupé",
            ]
        ), titles  # the steps have no planned time: no calendar invitation, no calendar message


def channel_connections(receiver: WebhookReceiver) -> dict[str, str]:
    """The plan's channels as Airflow connections: two posting to the local receiver, one to a
    port nothing listens on any more."""
    with WebhookReceiver() as gone:
        closed = gone.apprise_connection("/broken")
    return {
        "AIRFLOW_CONN_SLACK_CUTOVER": receiver.slack_connection("/services/T0/B0/slack"),
        "AIRFLOW_CONN_TEAMS_CUTOVER": receiver.apprise_connection("/teams"),
        "AIRFLOW_CONN_BROKEN_CUTOVER": closed,
    }


def asked(
    server: AirflowServer, run_id: str, steps: set[str], timeout: float = 120
) -> dict[str, dict]:
    """The human-in-the-loop requests of ``steps``, once they have all been asked."""
    deadline = time.monotonic() + timeout
    with server.client("admin") as admin:
        while time.monotonic() < deadline:
            details = admin.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails").json()[
                "hitl_details"
            ]
            found = {d["task_instance"]["task_id"]: d for d in details}
            if steps <= set(found):
                return found
            time.sleep(0.5)
    raise TimeoutError(f"{steps} not all asked in {timeout} s")


def body(message, kind: str) -> str:
    """A part of an e-mail as text, with the SMTP line ends made Python's."""
    return message.get_body((kind,)).get_content().replace("\r\n", "\n")


def recap_in_a_browser(server: AirflowServer, user: str) -> tuple[str, str]:
    """The recap page's counts and its status line, as ``user`` sees them in chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.context.add_cookies(
                [{"name": "_token", "value": server.token(user), "url": server.base_url}]
            )
            assert page.goto(f"{server.base_url}/transition/recap").status == 200
            page.wait_for_function(
                "document.querySelectorAll('#rows tr').length === 3", timeout=30_000
            )
            page.wait_for_function(
                "!document.getElementById('status').innerText.startsWith('Chargement')"
                " && !document.getElementById('status').innerText.startsWith('Loading')"
            )
            return " ".join(page.inner_text("#counts").split()), page.inner_text("#status")
        finally:
            browser.close()
