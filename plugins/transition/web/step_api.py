"""The plugin's web app, assembled: importing the route modules registers their routes on ``app``.

``transition_plugin`` mounts ``app`` at ``/transition``; see :mod:`transition.web.app` for what the
routes share, and :mod:`step_actions`, :mod:`defects`, :mod:`run_api`, :mod:`recap` for the routes.
"""

from __future__ import annotations

from transition.web import (
    defects,
    journal_api,
    plan_record_api,
    review_page,
    run_api,
    step_actions,
    step_page,
    substitutes,
)
from transition.web import recap as recap_page
from transition.web.app import DEFECT_ID_MAX, app
from transition.web.step_checks import DefectBody, TransferBody

recap = recap_page.recap
__all__ = [
    "DEFECT_ID_MAX",
    "DefectBody",
    "TransferBody",
    "app",
    "defects",
    "journal_api",
    "plan_record_api",
    "recap",
    "review_page",
    "run_api",
    "step_actions",
    "step_page",
    "substitutes",
]
