"""Results of dry runs: Airflow's REST API client, the results data, the workbook, the weekly report.

Owns: the REST client (``api_client``), a run's results and comparisons (``data``), the results
workbook (``workbook``), the weekly report's DAG and e-mail (``weekly_report``), the Durations
measured for the next dry run (``calibration``, ``calibration_workbook``), the forecast
(``confidence``) and the review after a run (``review``, ``review_charts``, ``review_pdf``).
Imports the runs (the recap's timeline drawing among them: ``runs.timeline_svg``), notifications,
plan and workbook layers.
"""
