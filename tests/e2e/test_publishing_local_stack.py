"""docs/publishing.md's walk-through against `make run`'s stack: the build runs in the gateway's Lambda."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from tests.e2e.conftest import RunningStack, until


def _repo(path: Path) -> None:
    from dulwich import porcelain

    path.mkdir()
    porcelain.init(str(path))
    files = {
        "autotune-config.json": json.dumps({"type": "graphic"}),
        "index.html.j2": "<h1>{{ title }}</h1><p>{{ question }}</p><i>{{ theme_data.color }}</i>",
    }
    for name, text in files.items():
        (path / name).write_text(text)
    porcelain.add(str(path), paths=[str(path / name) for name in files])
    porcelain.commit(str(path), message=b"quiz", author=b"T <t@example.com>", committer=b"T <t@example.com>")


def test_a_project_is_built_in_the_background_and_served_from_the_bucket(stack: RunningStack, tmp_path: Path) -> None:
    _repo(tmp_path / "quiz")
    url = stack.url
    created = requests.post(
        f"{url}/admin/autotune/users",
        auth=stack.auth,
        json={"email": "e2e-bot@example.com", "superuser": True},
        timeout=10,
    )
    assert created.status_code == 201
    headers = {"Accept": "application/json", "Authorization": f'API-KEY auth="{created.json()["api_key"]}"'}
    group = requests.post(f"{url}/admin/autotune/groups", auth=stack.auth, json={"name": "E2E"}, timeout=10).json()
    theme = requests.post(
        f"{url}/themes",
        headers=headers,
        json={"title": "E2E", "group": group["slug"], "data": {"color": "teal"}},
        timeout=10,
    )
    assert theme.status_code == 201, theme.text
    blueprint = requests.post(
        f"{url}/blueprints", headers=headers, json={"title": "E2E quiz", "repo_url": str(tmp_path / "quiz")}, timeout=10
    )
    assert blueprint.status_code == 201, blueprint.text
    ready = until(
        lambda: requests.get(f"{url}/blueprints/{blueprint.json()['id']}", headers=headers, timeout=10).json(),
        lambda b: b["status"] != "updating",
    )
    assert ready["status"] == "ready", ready

    body = {"title": "Who won", "blueprint": ready["slug"], "theme": theme.json()["slug"], "data": {"question": "Q?"}}
    project = requests.post(f"{url}/projects", headers=headers, json=body, timeout=10)
    assert project.status_code == 201, project.text
    built = until(
        lambda: requests.get(f"{url}/projects/{project.json()['id']}", headers=headers, timeout=10).json(),
        lambda p: p["status"] not in ("building", "updating"),
    )
    assert built["status"] == "built", built
    assert built["preview_url"] == f"{stack.publish_url}/preview/{built['slug']}/"
    page = requests.get(built["preview_url"] + "index.html", timeout=10)
    assert page.status_code == 200
    assert page.text == "<h1>Who won</h1><p>Q?</p><i>teal</i>"
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    # The folder serves its index.html, as the CDN in front of the bucket does.
    assert requests.get(built["preview_url"], timeout=10).text == page.text


def test_the_bucket_is_private_and_served_only_through_the_local_stack(stack: RunningStack) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith("-publish"))
    s3.put_object(Bucket=bucket, Key="preview/e2e-private/index.html", Body=b"<p>private</p>", ContentType="text/html")
    # Nobody reads the bucket without credentials, as on AWS.
    anonymous = requests.get(f"{stack.aws_endpoint}/{bucket}/preview/e2e-private/index.html", timeout=10)
    assert anonymous.status_code == 403
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    # The local stack serves it on its own origin, as CloudFront with origin access control does.
    served = requests.get(f"{stack.publish_url}/preview/e2e-private/index.html", timeout=10)
    assert (served.status_code, served.text) == (200, "<p>private</p>")
    assert requests.get(f"{stack.publish_url}/preview/e2e-private/", timeout=10).text == "<p>private</p>"
    assert requests.get(f"{stack.publish_url}/preview/e2e-missing/", timeout=10).status_code == 403
    assert requests.post(f"{stack.publish_url}/preview/e2e-private/index.html", timeout=10).status_code == 403
