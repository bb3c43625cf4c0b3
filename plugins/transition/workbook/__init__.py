"""The workbook: cells, the sheets of the contract, reading (with its limits) and writing.

Owns: turning Excel cells into values (``cells``), the contract's sheets and columns (``sheets``),
the limits checked before reading (``limits``), reading rows with their cells' places (``reader``),
writing workbooks (``writer``, ``sample``) and people's text as safe cells
(``text_cells``). Imports only :mod:`transition.errors` and :mod:`transition.i18n`: no Airflow.
"""
