"""Which route Airflow's api-server will run for a request: Starlette's own matching, mounts included.

Starlette tries the routes one by one (about 800 on Airflow's api-server); the guard and the
session slots ask for every request, so what a path and method match is kept (the last
:data:`CACHED_PATHS` of them: a client sending new paths only pushes older ones out).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.routing import Match, Mount

MAX_MOUNT_DEPTH = 8
CACHED_PATHS = 4096


def matched_route(
    app: Any, scope: dict, stop_at: tuple[str, ...] = ()
) -> tuple[Any, str, dict[str, Any]] | None:
    """The route ``app`` runs for ``scope``: the route object, its declared path with the mount
    prefixes, and its path parameters; None when no route matches the path and method (Airflow
    answers 404 or 405). A mount whose path starts with one of ``stop_at``, or whose routes cannot
    be seen, is returned itself."""
    found = _matched(
        app,
        scope["type"],
        scope.get("method"),
        scope["path"],
        scope.get("root_path", ""),
        scope.get("app_root_path"),
        stop_at,
    )
    return None if found is None else (found[0], found[1], dict(found[2]))


@lru_cache(maxsize=CACHED_PATHS)
def _matched(
    app: Any,
    kind: str,
    method: str | None,
    path: str,
    root_path: str,
    app_root_path: str | None,
    stop_at: tuple[str, ...],
) -> tuple[Any, str, dict[str, Any]] | None:
    """:func:`matched_route` for what Starlette's matching reads of a scope (Airflow declares no
    route by host)."""
    scope: dict[str, Any] = {"type": kind, "path": path, "root_path": root_path}
    if method is not None:
        scope["method"] = method
    if app_root_path is not None:
        scope["app_root_path"] = app_root_path
    routes = app.router.routes
    child_scope = dict(scope)
    prefix = ""
    params: dict[str, Any] = {}
    for _depth in range(MAX_MOUNT_DEPTH):
        for route in routes:
            match, child = route.matches(child_scope)
            if match is not Match.FULL:
                continue
            params.update(child.get("path_params", {}))
            if isinstance(route, Mount):
                inner = _routes_of(route.app)
                if not inner or (prefix + route.path).startswith(stop_at):
                    return route, prefix + route.path, params
                prefix += route.path
                child_scope.update(child)
                routes = inner
                break
            return route, prefix + route.path, params
        else:
            return None
    return None


def _routes_of(app: Any) -> list[Any]:
    """The routes of a mounted app; for a versioned one (Cadwyn: Airflow's Execution API), its own
    routes and then those of its newest version (every version's routes take the same
    dependencies)."""
    router = getattr(app, "router", None)
    routes = list(getattr(app, "routes", None) or getattr(router, "routes", None) or [])
    versions = getattr(router, "versioned_routers", None)
    if isinstance(versions, dict) and versions:
        newest = list(getattr(versions[max(versions)], "routes", []))
        # before its first request Cadwyn has not made them yet: the routes they are made from
        routes += newest or list(
            getattr(getattr(app, "_latest_version_router", None), "routes", [])
        )
    return routes


def declared_params(route: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The path parameters as the route's endpoint receives them: each parsed with the type the route
    declares (FastAPI's own field: ``7.0``, ``+7`` or ``07`` for an integer are the integer 7), so
    that a rule sees the value Airflow acts on. A value the route would refuse (422) is kept as it
    came: Airflow answers the refusal and changes nothing."""
    fields = getattr(getattr(route, "dependant", None), "path_params", None) or []
    typed = dict(params)
    for field in fields:
        name = getattr(field, "alias", None) or field.name
        if name not in params:
            continue
        value, errors = field.validate(params[name], {}, loc=("path", name))
        if not errors:
            typed[name] = value
    return typed


def query_dependencies(route: Any, names: frozenset[str], query: Any) -> dict[str, Any] | None:
    """What the route's endpoint receives for its parameters ``names`` that FastAPI builds from the
    query string (Airflow's filter objects, built by Airflow's own dependency functions); None when
    FastAPI would refuse the query (422: nothing changes)."""
    # deferred: FastAPI's internals, only on the api-server
    from fastapi.dependencies.utils import request_params_to_args

    found: dict[str, Any] = {}
    for dependency in getattr(getattr(route, "dependant", None), "dependencies", []):
        if dependency.name not in names:
            continue
        if dependency.dependencies:  # it needs more than the query (a user, a session)
            raise ValueError(f"{dependency.name} is not built from the query alone")
        values, errors = request_params_to_args(dependency.query_params, query)
        if errors:
            return None
        found[dependency.name] = dependency.call(**values)
    missing = names - set(found)
    if missing:
        raise ValueError(f"the route takes no {sorted(missing)}")
    return found
