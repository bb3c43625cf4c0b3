"""Airflow-native runner for transition (cutover) plans kept in an Excel workbook."""

__version__ = "0.1.0"
