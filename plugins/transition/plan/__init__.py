"""The plan: its configuration, its model, validation, graph, schedule, forecast and compiler.

Owns: ``config.yaml`` (``config``, ``cron``), the escalation ladder's rungs (``escalation``), the
validated plan (``model``), rows to entities with every problem and its cell (``validation``),
prerequisites and dry-run projection (``graph``), planned times (``schedule``), critical path and
forecast (``forecast``), what if a step ended at another time (``what_if``), workbook +
configuration to plan (``compiler``), its JSON form (``serial``) and the blank workbook with the
default phases (``template``). Imports the workbook layer, errors, vocabulary and i18n: no Airflow.
"""
