"""Airflow DAGs of the configured transition plan: one DAG per dry run (see plugins/transition).

In a worker that runs one task, only that task's DAG is built, holding only that task (Airflow's
parsing context).
"""

from airflow.sdk import get_parsing_context

from transition.runner.dag_files import registered_dags

parsing = get_parsing_context()
globals().update(registered_dags(parsing.dag_id, parsing.task_id))
