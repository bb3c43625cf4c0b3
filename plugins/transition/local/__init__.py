"""What runs Airflow for a plan on one machine: ``make run``'s ``airflow standalone`` and its
settings (:mod:`~transition.local.standalone`, the tuning ``docker-compose.yaml`` repeats), the
embedded PostgreSQL, the supervisor that keeps Airflow running and ends everything it started
(``keep_running``, ``reaper``, ``run_mark``, ``airflow_liveness``), backup and restore, and the copy
of a SQLite history into PostgreSQL.

May import the layers below it (workbook, plan, store, runs, results); imported by ``cli`` (which parses
the arguments), the tests and the benchmarks.
"""
