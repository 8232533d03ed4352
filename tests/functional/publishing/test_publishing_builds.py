"""Blueprints from git repositories, real builds to S3, publishing, and one build at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.functional.publishing.conftest import (
    BLUEPRINT_FILES,
    Api,
    FakeLambda,
    bucket_keys,
    make_repo,
    published_file,
    run_worker,
)


def test_a_blueprint_is_loaded_from_its_git_repository(api: Api, newsroom: dict[str, Any]) -> None:
    blueprint = api.ok("GET", f"/blueprints/{newsroom['blueprint']['slug']}", "root")
    assert blueprint["status"] == "ready"
    assert blueprint["version"] == newsroom["commit"]
    assert blueprint["type"] == "graphic"
    assert blueprint["config"] == json.loads(BLUEPRINT_FILES["autotune-config.json"])
    assert blueprint["repo_url"] == str(newsroom["repo"])
    assert "Commit " + newsroom["commit"] in blueprint["output"]
    assert "output" not in api.ok("GET", f"/blueprints/{blueprint['id']}", "ann")


def test_a_project_is_built_and_published_to_s3_with_its_data(api: Api, newsroom: dict[str, Any]) -> None:
    created = api.ok(
        "POST",
        "/projects",
        "ann",
        {"title": "Election night", "blueprint": "quiz", "theme": "vox", "data": {"headline": "Polls <close>"}},
        201,
    )
    assert created["slug"] == "vox-election-night"
    assert created["status"] == "building"

    project = api.ok("GET", "/projects/vox-election-night", "ann")
    assert project["status"] == "built", project["error_message"]
    assert project["built"] is True
    assert project["blueprint_version"] == newsroom["commit"]
    assert project["preview_url"].endswith("/preview/vox-election-night/")
    assert project["publish_url"] is None and project["published_at"] is None and project["embed_html"] is None
    assert "output" not in project  # superusers only

    html, content_type = published_file("preview/vox-election-night/index.html")
    assert content_type == "text/html; charset=utf-8"
    assert "<h1>Election night</h1>" in html
    assert "Polls &lt;close&gt;" in html  # HTML is autoescaped
    assert "<p class='color'>#fc0</p>" in html and "<p class='type'>preview</p>" in html
    assert f"<p class='group'>{newsroom['group']}/vox</p>" in html
    assert project["preview_url"] in html
    assert "<footer>Election night</footer>" in html
    assert bucket_keys("preview/") == ["preview/vox-election-night/index.html", "preview/vox-election-night/style.css"]
    assert published_file("preview/vox-election-night/style.css")[1] == "text/css; charset=utf-8"

    assert api.ok("GET", f"/projects/{created['id']}/build_and_publish", "ann", status=202) == {"status": "accepted"}
    published = api.ok("GET", f"/projects/{created['id']}", "root")
    assert published["status"] == "built"
    assert published["published_at"] is not None
    assert published["publish_url"].endswith("/publish/vox-election-night/")
    assert published["embed_html"].startswith(f'<iframe src="{published["publish_url"]}"')
    assert 'height="420"' in published["embed_html"]
    assert "Uploaded 2 files" in published["output"]
    html, _ = published_file("publish/vox-election-night/index.html")
    assert "<p class='type'>publish</p>" in html and "Polls &lt;close&gt;" in html
    assert published["publish_url"] in html


def test_an_update_replaces_the_data_and_rebuilds(api: Api, newsroom: dict[str, Any]) -> None:
    project = api.ok(
        "POST", "/projects", "ann", {"title": "Poll", "blueprint": "quiz", "theme": "vox", "data": {"a": 1}}, 201
    )
    updated = api.ok("PATCH", f"/projects/{project['id']}", "ann", {"data": {"headline": "New"}, "title": "Poll 2"})
    assert updated["data"] == {"headline": "New"}  # replaced, not merged
    assert updated["slug"] == "vox-poll"  # the slug stays unless one is sent
    html, _ = published_file("preview/vox-poll/index.html")
    assert "<h1>Poll 2</h1>" in html and "New" in html
    renamed = api.ok("PUT", f"/projects/{project['id']}", "ann", {"slug": "results"})
    assert renamed["slug"] == "vox-results" and renamed["slug_sans_theme"] == "results"
    assert api.ok("GET", "/projects/vox-results", "ann")["id"] == project["id"]
    assert api.call("GET", "/projects/vox-poll", "ann").status == 404


def test_update_snapshot_moves_a_project_to_the_blueprints_new_version(api: Api, newsroom: dict[str, Any]) -> None:
    project = api.ok("POST", "/projects", "ann", {"title": "Quiz one", "blueprint": "quiz", "theme": "vox"}, 201)
    second = make_repo(newsroom["repo"], {"index.html.j2": "<h2>v2 {{ title }}</h2>"}, "v2")
    assert api.ok("GET", "/blueprints/quiz/update_repo", "root", status=202) == {"status": "accepted"}
    assert api.ok("GET", "/blueprints/quiz", "root")["version"] == second

    api.ok("GET", f"/projects/{project['id']}/build", "ann", status=202)
    assert api.ok("GET", f"/projects/{project['id']}", "ann")["blueprint_version"] == newsroom["commit"]
    assert "<h1>Quiz one</h1>" in published_file("preview/vox-quiz-one/index.html")[0]

    api.ok("GET", f"/projects/{project['id']}/update_snapshot", "ann", status=202)
    upgraded = api.ok("GET", f"/projects/{project['id']}", "ann")
    assert upgraded["status"] == "built" and upgraded["blueprint_version"] == second
    assert "<h2>v2 Quiz one</h2>" in published_file("preview/vox-quiz-one/index.html")[0]


def project_of_template(api: Api, newsroom: dict[str, Any], template: str, title: str, reader: str) -> Any:
    """The quiz blueprint updated to a commit whose index is ``template``, then a project of it by the author
    'ann' (its build runs at once); the project as ``reader`` reads it."""
    make_repo(newsroom["repo"], {"index.html.j2": template}, title.lower())
    api.ok("GET", "/blueprints/quiz/update_repo", "root", status=202)
    project = api.ok("POST", "/projects", "ann", {"title": title, "blueprint": "quiz", "theme": "vox"}, 201)
    return api.ok("GET", f"/projects/{project['id']}", reader)


def test_a_broken_template_breaks_the_build_with_a_useful_message(api: Api, newsroom: dict[str, Any]) -> None:
    broken = project_of_template(api, newsroom, "<h1>{{ title }</h1>", "Typo", reader="root")
    assert broken["status"] == "broken"
    assert broken["error_message"].startswith("index.html.j2, line 1:")
    assert "FAILED: index.html.j2, line 1" in broken["output"]
    assert bucket_keys("preview/vox-typo/") == []


def test_templates_cannot_reach_python(api: Api, newsroom: dict[str, Any]) -> None:
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    broken = project_of_template(api, newsroom, escape, "Escape", reader="ann")
    assert broken["status"] == "broken"
    assert "unsafe" in broken["error_message"]


def test_a_repository_without_a_valid_config_breaks_the_blueprint(api: Api, tmp_path: Path) -> None:
    api.user("root", superuser=True)
    make_repo(tmp_path / "bad", {"autotune-config.json": '{"type": "poster"}', "index.html.j2": "x"})
    blueprint = api.ok("POST", "/blueprints", "root", {"title": "Bad", "repo_url": f"file://{tmp_path}/bad"}, 201)
    found = api.ok("GET", f"/blueprints/{blueprint['id']}", "root")
    assert found["status"] == "broken"
    assert found["error_message"] == 'autotune-config.json must set "type" to "graphic" or "app".'
    assert found["version"] is None

    missing = api.ok("POST", "/blueprints", "root", {"title": "Gone", "repo_url": str(tmp_path / "nowhere")}, 201)
    gone = api.ok("GET", f"/blueprints/{missing['id']}", "root")
    assert gone["status"] == "broken" and gone["error_message"].startswith("Could not fetch the repository")


def test_a_second_build_while_one_is_queued_is_refused(
    api: Api, newsroom: dict[str, Any], fake_lambda: FakeLambda
) -> None:
    fake_lambda.hold = True
    project = api.ok("POST", "/projects", "ann", {"title": "Busy", "blueprint": "quiz", "theme": "vox"}, 201)
    for path in ("build", "build_and_publish", "update_snapshot"):
        refused = api.call("GET", f"/projects/{project['id']}/{path}", "ann")
        assert refused.status == 409
        assert refused.body == {
            "error": "A build of this project is already queued or running; try again when it is done."
        }
    assert api.call("PATCH", f"/projects/{project['id']}", "ann", {"title": "Later"}).status == 409
    assert api.ok("GET", f"/projects/{project['id']}", "ann")["status"] == "building"
    assert len(fake_lambda.held) == 1

    fake_lambda.release()
    assert api.ok("GET", f"/projects/{project['id']}", "ann")["status"] == "built"
    assert api.call("GET", f"/projects/{project['id']}/build", "ann").status == 202
    assert api.call("GET", "/blueprints/quiz/update_repo", "root").status == 202
    assert api.call("GET", "/blueprints/quiz/update_repo", "root").status == 409


def _overdue(model_name: str, item_id: int) -> None:
    """Move a queued job's deadline into the past, as if its worker had died long ago."""
    from chalicelib.publishing import models

    model = getattr(models, model_name)
    item = model.get(item_id)
    item.update(actions=[model.job_deadline.set(1)], add_version_condition=False)


def test_a_build_whose_worker_died_is_marked_broken_when_read(
    api: Api, newsroom: dict[str, Any], fake_lambda: FakeLambda
) -> None:
    fake_lambda.hold = True
    project = api.ok("POST", "/projects", "ann", {"title": "Stuck", "blueprint": "quiz", "theme": "vox"}, 201)
    _overdue("Project", project["id"])

    listed = api.ok("GET", "/projects", "ann")
    assert [p["status"] for p in listed] == ["broken"]
    found = api.ok("GET", f"/projects/{project['id']}", "ann")
    assert found["status"] == "broken"
    assert found["error_message"].startswith("The build did not finish within 600 seconds")

    # The dead worker's job is gone: a new build is accepted, and the late worker's result is discarded.
    assert api.call("GET", f"/projects/{project['id']}/build", "ann").status == 202
    late = fake_lambda.held.pop(0)
    assert run_worker(late)["outcome"] == "skipped"
    fake_lambda.release()
    assert api.ok("GET", f"/projects/{project['id']}", "ann")["status"] == "built"


def test_the_scheduled_check_ends_overdue_jobs_through_the_index(
    api: Api, newsroom: dict[str, Any], fake_lambda: FakeLambda
) -> None:
    from chalicelib.publishing.models import Blueprint, Project
    from chalicelib.publishing.routes import build_sweep

    fake_lambda.hold = True
    stuck = api.ok("POST", "/projects", "ann", {"title": "Stuck", "blueprint": "quiz", "theme": "vox"}, 201)
    queued = api.ok("POST", "/projects", "ann", {"title": "Queued", "blueprint": "quiz", "theme": "vox"}, 201)
    api.ok("GET", "/blueprints/quiz/update_repo", "root", status=202)
    _overdue("Project", stuck["id"])
    _overdue("Blueprint", newsroom["blueprint"]["id"])

    event = {
        "version": "0",
        "id": "sweep",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }
    assert build_sweep(event, None) == {
        "projects": 1,
        "blueprints": 1,
    }
    assert Project.get(stuck["id"]).status == "broken"
    assert Project.get(stuck["id"]).job_id is None
    assert Project.get(queued["id"]).status == "building"
    assert Blueprint.get(newsroom["blueprint"]["id"]).status == "broken"
    assert "repository update did not finish" in str(Blueprint.get(newsroom["blueprint"]["id"]).error_message)


def test_a_retried_invocation_ends_the_build_broken(
    api: Api, newsroom: dict[str, Any], fake_lambda: FakeLambda
) -> None:
    from chalicelib.http import now_ms
    from chalicelib.publishing import repository
    from chalicelib.publishing.models import Project

    fake_lambda.hold = True
    project = api.ok("POST", "/projects", "ann", {"title": "Retry", "blueprint": "quiz", "theme": "vox"}, 201)
    event = fake_lambda.held[0]
    item = Project.get(project["id"])
    assert repository.start_job(item, event["job_id"], now_ms() + 60_000, now_ms())  # a first attempt that died

    assert run_worker(event)["outcome"] == "broken"
    found = api.ok("GET", f"/projects/{project['id']}", "ann")
    assert found["status"] == "broken" and "stopped before finishing" in found["error_message"]


def test_deleting_a_project_removes_it_its_slug_and_its_files(api: Api, newsroom: dict[str, Any]) -> None:
    project = api.ok("POST", "/projects", "ann", {"title": "Gone", "blueprint": "quiz", "theme": "vox"}, 201)
    api.ok("GET", f"/projects/{project['id']}/build_and_publish", "ann", status=202)
    assert bucket_keys("publish/vox-gone/") and bucket_keys("preview/vox-gone/")
    reply = api.call("DELETE", f"/projects/{project['id']}", "ann")
    assert reply.status == 204 and reply.body is None
    assert bucket_keys() == []
    assert api.call("GET", f"/projects/{project['id']}", "ann").status == 404
    again = api.ok("POST", "/projects", "ann", {"title": "Gone", "blueprint": "quiz", "theme": "vox"}, 201)
    assert again["slug"] == "vox-gone"  # the slug was released
