"""Results of dry runs: Airflow's REST API client, the results data, the workbook, the weekly report.

Owns: the REST client (``api_client``), a run's results and comparisons (``data``), the results
workbook (``workbook``) and the weekly report's DAG and e-mail (``weekly_report``). Imports the
runs, notifications, plan and workbook layers.
"""
