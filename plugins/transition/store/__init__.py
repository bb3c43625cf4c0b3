"""The store: the compiled-plan cache and the child process that compiles a changed workbook.

Owns: the cache keyed by content with the last good plan beside the problems (``plan_store``) and
compiling in a limited child process (``isolated_compile``). Imports the plan and workbook layers:
no Airflow.
"""
