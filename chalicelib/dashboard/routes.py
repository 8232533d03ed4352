"""Routes of the operator dashboard under ``/dashboard``: each hands its request to one page function.

Only Chalice is imported here; the pages (Jinja2, the services they call) load on the first dashboard
request, so the REST API's cold start does not carry them.
"""

from __future__ import annotations

from collections.abc import Callable

from chalice.app import Response

from chalicelib.services import blueprint

bp = blueprint(__name__)

ANY = ["*/*"]  # GET has no body; forms post application/x-www-form-urlencoded, checked by the page
GET, POST, BOTH = ("GET",), ("POST",), ("GET", "POST")
INTEGRATION = "/dashboard/integrations/{integration}"
CONFIGURATION = INTEGRATION + "/configurations/{setup_id}"
AUTHENTICATION = INTEGRATION + "/authentications/{auth_id}"
CUSTOMER = "/dashboard/broker/customers/{customer_id}"
INSTANCE = CUSTOMER + "/instances/{instance_id}"
USER = "/dashboard/publishing/users/{user}"
GROUP = "/dashboard/publishing/groups/{group}"

# Path, methods, page (a key of pages.PAGES): every dashboard route, in one table.
ROUTES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("/dashboard", GET, "integrations"),
    ("/dashboard/static/{name}", GET, "static"),
    ("/dashboard/sign-in", BOTH, "sign_in"),
    ("/dashboard/sign-out", POST, "sign_out"),
    ("/dashboard/activity", GET, "activity"),
    ("/dashboard/new-integration", BOTH, "definition"),
    (INTEGRATION, GET, "integration"),
    (INTEGRATION + "/definition", BOTH, "definition_edit"),
    (INTEGRATION + "/definition/delete", BOTH, "definition_delete"),
    (INTEGRATION + "/configurations", POST, "configuration_create"),
    (CONFIGURATION, POST, "configuration_update"),
    (CONFIGURATION + "/delete", BOTH, "configuration_delete"),
    (AUTHENTICATION, GET, "authentication"),
    (AUTHENTICATION + "/reveal", POST, "authentication_reveal"),
    (AUTHENTICATION + "/refresh", POST, "authentication_refresh"),
    (AUTHENTICATION + "/delete", BOTH, "authentication_delete"),
    ("/dashboard/broker", BOTH, "broker"),
    (CUSTOMER, BOTH, "customer"),
    (CUSTOMER + "/rotate-key", BOTH, "customer_rotate"),
    (CUSTOMER + "/delete", BOTH, "customer_delete"),
    (INSTANCE + "/rotate-key", BOTH, "instance_rotate"),
    (INSTANCE + "/delete", BOTH, "instance_delete"),
    ("/dashboard/publishing", BOTH, "publishing"),
    (USER, BOTH, "publishing_user"),
    (USER + "/rotate-key", BOTH, "publishing_rotate"),
    (GROUP, BOTH, "publishing_group"),
    (GROUP + "/members/{user}/delete", BOTH, "publishing_member_delete"),
    ("/dashboard/entities", BOTH, "entities"),
    ("/dashboard/entities/users/{login}/delete", BOTH, "entities_user_delete"),
    ("/dashboard/entities/groups/{name}/delete", BOTH, "entities_group_delete"),
)


def _view(page: str, path: str) -> Callable[..., Response]:
    """The Chalice view of one route: it hands the request, with the path's parameters, to the page."""

    def view(**params: str) -> Response:
        from chalicelib.dashboard import pages  # on the first dashboard request: see the module's docstring

        return pages.handle(bp.current_request, page, params, path)

    view.__name__ = view.__qualname__ = f"dashboard_{page}"
    return view


for _path, _methods, _page in ROUTES:
    bp.route(_path, methods=list(_methods), content_types=ANY)(_view(_page, _path))
