"""Which route Airflow's api-server will run for a request: Starlette's own matching, mounts included."""

from __future__ import annotations

from typing import Any

from starlette.routing import Match, Mount

MAX_MOUNT_DEPTH = 8


def matched_route(
    app: Any, scope: dict, stop_at: tuple[str, ...] = ()
) -> tuple[Any, str, dict[str, Any]] | None:
    """The route ``app`` runs for ``scope``: the route object, its declared path with the mount
    prefixes, and its path parameters; None when no route matches the path and method (Airflow
    answers 404 or 405). A mount whose path starts with one of ``stop_at``, or whose routes cannot
    be seen, is returned itself."""
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
