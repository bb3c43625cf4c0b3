"""Shows the transition plan's problems as this file's import error in Airflow (no DAG here).

While the workbook is invalid, the DAGs of the last good plan stay live (transition_plan.py).
"""

from transition.runner.dag_files import raise_plan_problems

raise_plan_problems()
