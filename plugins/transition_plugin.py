"""Airflow plugin of the transition-plan runner (the package itself is ``plugins/transition``).

Adds to Airflow's api-server: the ``/transition`` REST endpoints (transfers, defects) and the step
guard (who may set a step's state, no closing over a blocking defect). Every Airflow process loads
plugins, so the web parts are imported only when the api-server asks for them.
"""

from airflow.plugins_manager import AirflowPlugin


class TransitionPlugin(AirflowPlugin):
    name = "transition"
    # The recap page, in Airflow's navigation (shown inside Airflow's UI).
    external_views = [
        {"name": "Transition recap", "href": "/transition/recap", "destination": "nav", "url_route": "transition-recap"}
    ]

    @property
    def fastapi_apps(self):  # type: ignore[override]
        from transition.step_api import app

        return [{"app": app, "url_prefix": "/transition", "name": "Transition plan"}]

    @property
    def fastapi_root_middlewares(self):  # type: ignore[override]
        from transition.step_guard import StepGuard

        return [{"middleware": StepGuard, "name": "Transition step guard"}]
