"""What people are told: the mail core, each kind of message, the calendar, and what was sent.

Owns: templates, sending and failures (``mail``), the Ready, Late, Overdue, transfer and defect
messages (``ready_mail``, ``alert_mail``), the escalation ladder's reminders
(``escalation_mail``), their short form for chat channels (``channels``: Slack, Teams and others
through Airflow's Slack and Apprise providers), calendars (``calendar_ics``, ``calendar_mail``), the
dry run's End alert (``deadline_mail``), the request an owner reads (``request_text``). What a run
has told people, whom a step was handed to and the messages the api-server could not post are the
run's records (:mod:`transition.runs`: ``sent_ledger``, ``step_holder``, ``server_failures``).
Imports the plan and runs layers and Airflow's SMTP, Slack webhook and Apprise connections; never
the web or results layers.
"""
