from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="package")
def airflow_app() -> Any:
    """Airflow 3.3's real api-server app (its routes, its dependencies), built once."""
    from airflow.api_fastapi.app import create_app

    return create_app()
