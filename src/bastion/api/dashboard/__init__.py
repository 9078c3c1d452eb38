"""The live dashboard: ``GET /dashboard`` (a page with no data) and ``GET /dashboard/api/*`` (the data).

Auth: the page asks for the admin key, keeps it in the tab's ``sessionStorage`` and sends it
as ``Authorization: Bearer`` to the JSON endpoints, which check it like every ``/admin/``
route. The key never goes in a URL or a cookie (no CSRF surface, nothing in access logs), and
it is gone when the tab closes. Numbers come from the rollup tables (``store/rollups.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bastion.api.admin import Reloadable
from bastion.api.asgi import Receive, Scope, Send
from bastion.api.dashboard.api import Feedback, Overview, Requests, Spend
from bastion.api.dashboard.assets import Asset

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


def dashboard_routes(app: Reloadable) -> dict[tuple[str, str], Handler]:
    """The dashboard's routes, to merge into the app's route table."""
    return {
        ("GET", "/dashboard"): Asset("index.html"),
        ("GET", "/dashboard/dashboard.js"): Asset("dashboard.js"),
        ("GET", "/dashboard/dashboard.css"): Asset("dashboard.css"),
        ("GET", "/dashboard/api/overview"): Overview(app),
        ("GET", "/dashboard/api/spend"): Spend(app),
        ("GET", "/dashboard/api/feedback"): Feedback(app),
        ("GET", "/dashboard/api/requests"): Requests(app),
    }
