"""A newcomer's session: the README's walk-through against `make run`'s stack, over real HTTP."""

from __future__ import annotations

import requests

from tests.e2e.conftest import RunningStack, start_stack, stop_stack


def test_the_readme_walkthrough_works_over_http(stack: RunningStack) -> None:
    api = f"{stack.url}/api"
    assert requests.get(f"{api}/", auth=stack.auth, timeout=5).json()["object"] == "keyport"

    github = requests.get(f"{api}/github", auth=stack.auth, timeout=5)
    assert github.status_code == 200
    assert github.json()["id"] == "github" and github.json()["object"] == "integration"

    created = requests.post(
        f"{api}/github/configurations",
        auth=stack.auth,
        json={
            "credentials": {"clientId": "Iv1.8a61f9b3a7aba766", "clientSecret": "1ae5b8c2d9e0f3a4b5c6"},
            "scopes": ["read:user"],
        },
        timeout=5,
    )
    assert created.status_code == 201
    configuration = created.json()["configuration"]
    assert configuration["credentials"] == {"clientId": "Iv1.****************", "clientSecret": "1ae5****************"}

    imported = requests.post(
        f"{api}/github/authentications",
        auth=stack.auth,
        json={
            "setup_id": configuration["id"],
            "payload": {"accessToken": "gho_abc", "refreshToken": "ghr_def", "expiresIn": 28800},
        },
        timeout=5,
    )
    assert imported.status_code == 201
    auth_id = imported.json()["authentication"]["id"]

    fetched = requests.get(f"{api}/github/authentications/{auth_id}", auth=stack.auth, timeout=5).json()
    assert fetched["payload"]["accessToken"] == "gho_abc"
    assert isinstance(fetched["payload"]["updatedAt"], int)

    listed = requests.get(
        f"{api}/github/authentications",
        params={"setup_id": configuration["id"], "limit": 10},
        auth=stack.auth,
        timeout=5,
    ).json()
    assert [a["id"] for a in listed["data"]] == [auth_id]
    assert listed["has_more"] is False

    removed = requests.delete(f"{api}/github/authentications/{auth_id}", auth=stack.auth, timeout=5)
    assert removed.json() == {"message": "Authentication removed"}
    assert requests.get(f"{api}/github/authentications/{auth_id}", auth=stack.auth, timeout=5).status_code == 404


def test_unknown_routes_and_methods_answer_in_the_documented_body(stack: RunningStack) -> None:
    unknown = requests.get(f"{stack.url}/no/such/route", timeout=5)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"type": "missing", "message": "No route matches this path."}}

    wrong_method = requests.patch(f"{stack.url}/api/github", auth=stack.auth, json={}, timeout=5)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "method_not_allowed"
    assert wrong_method.headers["Allow"] == "DELETE, GET, PUT"

    malformed = requests.post(
        f"{stack.url}/api/github/configurations",
        auth=stack.auth,
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["type"] == "invalid_json"

    no_key = requests.get(f"{stack.url}/api/github", timeout=5)
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "missing_secret_key"


def test_the_openapi_document_is_served_without_a_key(stack: RunningStack) -> None:
    document = requests.get(f"{stack.url}/openapi.json", timeout=5)
    assert document.status_code == 200
    assert "/api/{integration}/authentications/{auth_id}/refresh" in document.json()["paths"]


def test_the_stack_prints_its_url_and_generated_key_and_stops_cleanly() -> None:
    running = start_stack({"SECRET_KEY": ""})
    # With no SECRET_KEY the stack generates one, so the key the probe used is refused.
    assert requests.get(f"{running.url}/api/", auth=running.auth, timeout=5).status_code == 401
    code, output = stop_stack(running)
    assert code == 0, output
    assert f"URL         {running.url}" in output
    assert "SECRET_KEY  sk_local_" in output and "(generated" in output
    assert "Stopping Keyport local stack" in output


def test_method_less_api_gateway_resources_answer_as_on_aws(stack: RunningStack) -> None:
    # Intermediate resources have no method on AWS: the root /{proxy+} (or a variable sibling) serves them.
    for path in ("/admin", "/admin/autotune", "/auth", "/proxy"):
        answer = requests.get(f"{stack.url}{path}", auth=stack.auth, timeout=5)
        assert answer.status_code == 404, path
        assert answer.json() == {"error": {"type": "missing", "message": "No route matches this path."}}, path
    for path in ("/v1/customers", "/internal/v1"):  # the broker's paths, in the broker's error body
        answer = requests.get(f"{stack.url}{path}", timeout=5)
        assert (answer.status_code, answer.json()) == (404, {"detail": "No route matches this path."}), path
    # /api/v1 is served by /api/{integration} (no integration "v1"); /api/v1/... paths answer in the platform body.
    v1 = requests.get(f"{stack.url}/api/v1", auth=stack.auth, timeout=5)
    assert v1.status_code == 404
    assert v1.json() == {"success": False, "code": "404", "message": "Not Found", "tags": ["error_not_found"]}
    # A method API Gateway has no resource for never reaches the app.
    unsupported = requests.request("PROPFIND", f"{stack.url}/admin", auth=stack.auth, timeout=5)
    assert unsupported.status_code == 403
    assert unsupported.json() == {"message": "Missing Authentication Token"}
