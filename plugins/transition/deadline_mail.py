"""Kept where Airflow finds it: the Deadline Alert callback of runs started before the layers.

Airflow stores a Deadline Alert's callback by its import path with each run
(``transition.deadline_mail.notify_dry_run_late`` for runs started before the package was split
into layers); the triggerer imports that path when the End passes. New runs store
``transition.notifications.deadline_mail.notify_dry_run_late``. Keep this module while such runs
may be alive (``tests/e2e/test_layout_upgrade.py``).
"""

from transition.notifications.deadline_mail import notify_dry_run_late

__all__ = ["notify_dry_run_late"]
