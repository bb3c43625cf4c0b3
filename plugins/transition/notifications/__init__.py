"""What people are told: the mail core, each kind of message, the calendar, and what was sent.

Owns: templates, sending and failures (``mail``), the Ready, Late, Overdue, transfer and defect
messages (``ready_mail``, ``alert_mail``), the escalation ladder's reminders
(``escalation_mail``), their short form for chat channels (``channels``: Slack, Teams and others
through Airflow's Slack and Apprise providers), calendars (``calendar_ics``, ``calendar_mail``), the
dry run's End alert (``deadline_mail``), the request an owner reads (``request_text``), whom a step
was handed to (``step_holder``), what a run has told people (``sent_ledger``) and the chat messages
the api-server could not post (``server_failures``). Imports the plan
layer and Airflow's SMTP, Slack webhook and Apprise connections and Variables; never the web or
results layers.
"""
