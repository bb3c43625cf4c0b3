"""Airflow plugin of the transition-plan runner (the package itself is ``plugins/transition``).

Adds to Airflow's api-server: the ``/transition`` REST endpoints (transfers, defects), the step
guard (who may set a step's state, no closing over a blocking defect) and a listener that sends
calendar cancellations when a person cancels a dry run. Every Airflow process loads plugins, so the
web parts are imported only when the api-server asks for them.
"""

from airflow.plugins_manager import AirflowPlugin

from transition import calendar_listener


class TransitionPlugin(AirflowPlugin):
    name = "transition"
    # The recap page, in Airflow's navigation (shown inside Airflow's UI).
    external_views = [
        {"name": "Transition recap", "href": "/transition/recap", "destination": "nav", "url_route": "transition-recap"}
    ]

    listeners = [calendar_listener]

    @property
    def fastapi_apps(self):  # type: ignore[override]
        from transition.step_api import app

        return [{"app": app, "url_prefix": "/transition", "name": "Transition plan"}]

    @property
    def fastapi_root_middlewares(self):  # type: ignore[override]
        from transition.step_guard import StepGuard

        return [{"middleware": StepGuard, "name": "Transition step guard"}]
