"""Whether a request comes from another site: no cookie of a logged-in user acts for another site.

Airflow's login cookie (``_token``: HttpOnly, SameSite=Lax, Secure over HTTPS) goes with every
request a browser sends to Airflow, from whatever page. SameSite=Lax keeps it from cross-site
forms in today's browsers, but not from a sibling site (another subdomain of the same domain), nor
in older browsers. A browser says where a request comes from (``Origin`` on every POST, PUT,
PATCH and DELETE; ``Sec-Fetch-Site``): a change whose origin is not Airflow's own is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

FOREIGN_FETCH = frozenset({"cross-site", "same-site"})  # Sec-Fetch-Site of another site


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as browsers write ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def from_another_site(headers: Mapping[str, str], own: Iterable[str]) -> bool:
    """Whether the browser that sent ``headers`` says the request comes from a page of another site
    than ``own`` (origins). A request from no browser (no ``Origin``, no ``Sec-Fetch-Site``) is
    not: the REST API's clients send their token themselves."""
    origin = headers.get("origin")
    if origin is not None and origin.lower() not in {origin_of(o) for o in own}:
        return True
    return headers.get("sec-fetch-site", "").lower() in FOREIGN_FETCH
