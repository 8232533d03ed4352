"""Routes of the operator dashboard under ``/dashboard``: each hands its request to one page function.

Only Chalice is imported here; the pages (Jinja2, the services they call) load on the first dashboard
request, so the REST API's cold start does not carry them.
"""

from __future__ import annotations

from chalice.app import Response

from chalicelib.services import blueprint

bp = blueprint(__name__)

ANY = ["*/*"]  # GET has no body; forms post application/x-www-form-urlencoded, checked by the page
BOTH = ["GET", "POST"]
INTEGRATION = "/dashboard/integrations/{integration}"
CONFIGURATION = INTEGRATION + "/configurations/{setup_id}"
AUTHENTICATION = INTEGRATION + "/authentications/{auth_id}"
CUSTOMER = "/dashboard/broker/customers/{customer_id}"
INSTANCE = CUSTOMER + "/instances/{instance_id}"


def _page(view: str, /, **params: str) -> Response:
    from chalicelib.dashboard import pages

    return pages.handle(bp.current_request, view, params)


@bp.route("/dashboard", methods=["GET"], content_types=ANY)
def dashboard_home() -> Response:
    return _page("integrations")


@bp.route("/dashboard/static/{name}", methods=["GET"], content_types=ANY)
def dashboard_static(name: str) -> Response:
    return _page("static", name=name)


@bp.route("/dashboard/sign-in", methods=BOTH, content_types=ANY)
def dashboard_sign_in() -> Response:
    return _page("sign_in")


@bp.route("/dashboard/sign-out", methods=["POST"], content_types=ANY)
def dashboard_sign_out() -> Response:
    return _page("sign_out")


@bp.route("/dashboard/new-integration", methods=BOTH, content_types=ANY)
def dashboard_new_integration() -> Response:
    return _page("definition")


@bp.route(INTEGRATION, methods=["GET"], content_types=ANY)
def dashboard_integration(integration: str) -> Response:
    return _page("integration", integration=integration)


@bp.route(INTEGRATION + "/definition", methods=BOTH, content_types=ANY)
def dashboard_definition(integration: str) -> Response:
    return _page("definition", integration=integration)


@bp.route(INTEGRATION + "/definition/delete", methods=BOTH, content_types=ANY)
def dashboard_definition_delete(integration: str) -> Response:
    return _page("definition_delete", integration=integration)


@bp.route(INTEGRATION + "/configurations", methods=["POST"], content_types=ANY)
def dashboard_configuration_create(integration: str) -> Response:
    return _page("configuration_save", integration=integration)


@bp.route(CONFIGURATION, methods=["POST"], content_types=ANY)
def dashboard_configuration_update(integration: str, setup_id: str) -> Response:
    return _page("configuration_save", integration=integration, setup_id=setup_id)


@bp.route(CONFIGURATION + "/delete", methods=BOTH, content_types=ANY)
def dashboard_configuration_delete(integration: str, setup_id: str) -> Response:
    return _page("configuration_delete", integration=integration, setup_id=setup_id)


@bp.route(AUTHENTICATION, methods=["GET"], content_types=ANY)
def dashboard_authentication(integration: str, auth_id: str) -> Response:
    return _page("authentication", integration=integration, auth_id=auth_id)


@bp.route(AUTHENTICATION + "/reveal", methods=["POST"], content_types=ANY)
def dashboard_authentication_reveal(integration: str, auth_id: str) -> Response:
    return _page("authentication_reveal", integration=integration, auth_id=auth_id)


@bp.route(AUTHENTICATION + "/refresh", methods=["POST"], content_types=ANY)
def dashboard_authentication_refresh(integration: str, auth_id: str) -> Response:
    return _page("authentication_refresh", integration=integration, auth_id=auth_id)


@bp.route(AUTHENTICATION + "/delete", methods=BOTH, content_types=ANY)
def dashboard_authentication_delete(integration: str, auth_id: str) -> Response:
    return _page("authentication_delete", integration=integration, auth_id=auth_id)


@bp.route("/dashboard/broker", methods=BOTH, content_types=ANY)
def dashboard_broker() -> Response:
    return _page("broker")


@bp.route(CUSTOMER, methods=BOTH, content_types=ANY)
def dashboard_customer(customer_id: str) -> Response:
    return _page("customer", customer_id=customer_id)


@bp.route(CUSTOMER + "/rotate-key", methods=BOTH, content_types=ANY)
def dashboard_customer_rotate(customer_id: str) -> Response:
    return _page("customer_rotate", customer_id=customer_id)


@bp.route(CUSTOMER + "/delete", methods=BOTH, content_types=ANY)
def dashboard_customer_delete(customer_id: str) -> Response:
    return _page("customer_delete", customer_id=customer_id)


@bp.route(INSTANCE + "/rotate-key", methods=BOTH, content_types=ANY)
def dashboard_instance_rotate(customer_id: str, instance_id: str) -> Response:
    return _page("instance_rotate", customer_id=customer_id, instance_id=instance_id)


@bp.route(INSTANCE + "/delete", methods=BOTH, content_types=ANY)
def dashboard_instance_delete(customer_id: str, instance_id: str) -> Response:
    return _page("instance_delete", customer_id=customer_id, instance_id=instance_id)


@bp.route("/dashboard/publishing", methods=BOTH, content_types=ANY)
def dashboard_publishing() -> Response:
    return _page("publishing")


@bp.route("/dashboard/publishing/users/{user}", methods=BOTH, content_types=ANY)
def dashboard_publishing_user(user: str) -> Response:
    return _page("publishing_user", user=user)


@bp.route("/dashboard/publishing/users/{user}/rotate-key", methods=BOTH, content_types=ANY)
def dashboard_publishing_rotate(user: str) -> Response:
    return _page("publishing_rotate", user=user)


@bp.route("/dashboard/publishing/groups/{group}", methods=BOTH, content_types=ANY)
def dashboard_publishing_group(group: str) -> Response:
    return _page("publishing_group", group=group)


@bp.route("/dashboard/publishing/groups/{group}/members/{user}/delete", methods=BOTH, content_types=ANY)
def dashboard_publishing_member_delete(group: str, user: str) -> Response:
    return _page("publishing_member_delete", group=group, user=user)


@bp.route("/dashboard/entities", methods=BOTH, content_types=ANY)
def dashboard_entities() -> Response:
    return _page("entities")


@bp.route("/dashboard/entities/users/{login}/delete", methods=BOTH, content_types=ANY)
def dashboard_entities_user_delete(login: str) -> Response:
    return _page("entities_user_delete", login=login)


@bp.route("/dashboard/entities/groups/{name}/delete", methods=BOTH, content_types=ANY)
def dashboard_entities_group_delete(name: str) -> Response:
    return _page("entities_group_delete", name=name)


@bp.route("/dashboard/activity", methods=["GET"], content_types=ANY)
def dashboard_activity() -> Response:
    return _page("activity")
