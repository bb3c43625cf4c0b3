"""Runs as people see them: step states, the plugin's records and the run view.

Owns: a step's state from what Airflow knows (``states``), transfers, defects and forced closes
kept per run instance (``records``, ``records_schema``: tables and migrations), what the run's
tasks keep in XCom (``step_records``: keys and the shapes of their values), what a run has told
people (``sent_ledger``), whom each step was handed to (``step_holder``) and the messages the
api-server could not post (``server_failures``), kept in Airflow Variables, and where every
step of a run stands (``run_view``, a pure function of the plan, the run's facts and the moment;
``run_facts`` reads those facts from Airflow's database for the recap page, its JSON and the
results), and what if a step of it ended at another time (``what_if_view``). Imports the plan
layer, notifications' links, and Airflow's models (``run_facts``, ``what_if_view``: api-server
side).
"""
