"""Airflow DAGs of the configured transition plan: one DAG per dry run (see plugins/transition).

In a worker that runs one task, only that task's DAG is built (Airflow's parsing context).
"""

from airflow.sdk import get_parsing_context

from transition.airflow_dags import registered_dags

globals().update(registered_dags(get_parsing_context().dag_id))
