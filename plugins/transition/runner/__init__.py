"""The Airflow side of a plan: what the DAG files call, the DAGs, the operators and the run's watch.

Owns: the DAG files' entry (``dag_files``), plan to DAGs (``dag_builder``), a step as a human task
(``step_operator``), the run's watch (``watch_operator``) and the calendar listener. Imports Airflow,
and the plan, store, notifications and results layers. Persisted paths: Airflow stores the
operators' resume methods by name (``answered``, ``planned_start_reached``): keep them.
"""
