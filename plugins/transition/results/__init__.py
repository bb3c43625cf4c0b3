"""Results of dry runs: Airflow's REST API client, the results data, the workbook, the weekly report.

Owns: the REST client (``api_client``), a run's results and comparisons (``data``), the results
workbook (``workbook``), the weekly report's DAG and e-mail (``weekly_report``), and the Durations
measured for the next dry run (``calibration``, ``calibration_workbook``). Imports the runs,
notifications, plan and workbook layers.
"""
