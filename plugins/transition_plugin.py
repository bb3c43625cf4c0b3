"""Airflow plugin of the transition-plan runner (the package itself is ``plugins/transition``).

Adds to Airflow's api-server: the ``/transition`` REST endpoints (transfers, defects), the step
guard (deny by default: who may change what on the plan's DAGs, by any route; see
``transition.web.route_rules``), the plugin's tables' migrations (at start), the record of every
answer to a step (``transition.web.answer_record``), each run's journal
(``transition.web.journal_listener``) and a listener that sends
calendar cancellations when a person cancels a dry run. Every Airflow process loads plugins, so the
web parts are imported only when the api-server asks for them.
"""

from airflow.plugins_manager import AirflowPlugin

from transition.runner import calendar_listener


class TransitionPlugin(AirflowPlugin):
    name = "transition"
    # The recap page, in Airflow's navigation (shown inside Airflow's UI).
    external_views = [
        {
            "name": "Transition recap",
            "href": "/transition/recap",
            "destination": "nav",
            "url_route": "transition-recap",
        }
    ]

    listeners = [calendar_listener]

    @property
    def fastapi_apps(self):  # type: ignore[override]  # a property: Airflow reads a list attribute
        # Read by the api-server once, at start: the plugin's tables are brought up to date first.
        from airflow import settings

        from transition.runs.journal import deployment_key
        from transition.runs.records_schema import ensure_migrated
        from transition.web import answer_record, journal_listener
        from transition.web.step_api import app

        if settings.engine is not None:
            ensure_migrated(settings.engine)
        answer_record.listen()  # each answer to a step, recorded with it (transition.runs.answers)
        journal_listener.listen(deployment_key())  # each run's journal, as things happen

        return [{"app": app, "url_prefix": "/transition", "name": "Transition plan"}]

    @property
    def fastapi_root_middlewares(self):  # type: ignore[override]  # a property, loaded lazily
        from transition.web.session_slots import SessionSlots
        from transition.web.step_guard import StepGuard

        # The last is the outermost: the guard judges first, then the request waits for its slot.
        return [
            {"middleware": SessionSlots, "name": "Transition session slots"},
            {"middleware": StepGuard, "name": "Transition step guard"},
        ]
