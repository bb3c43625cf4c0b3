"""Airflow plugin: calendar cancellations when a person cancels a dry run (see
``transition.calendar_listener``). Every Airflow process loads it; the listener acts in the
api-server, where a run is marked failed."""

from airflow.plugins_manager import AirflowPlugin

from transition import calendar_listener


class TransitionCalendarPlugin(AirflowPlugin):
    name = "transition_calendar"
    listeners = [calendar_listener]
