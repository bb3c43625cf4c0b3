"""What the api-server serves: the plugin's REST endpoints and recap page, and the guard on Airflow's.

Owns: who may act on a step (``permissions``), the rights table and verdicts (``route_rules``), the
guard's facts (``guard_facts``), the root middleware (``step_guard``) and the endpoints and page
(``step_api``). Imports the runs, notifications and plan layers and Airflow's api_fastapi.
"""
