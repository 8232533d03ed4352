"""Publishing without AWS: rendering in the sandbox, repository addresses, slugs, headers."""

from __future__ import annotations

import pytest

from chalicelib.publishing import gitrepo, render, slugs
from chalicelib.publishing.accounts import MissingKey, parse_authorization
from chalicelib.publishing.builds import BuildFailed
from chalicelib.publishing.routes import accepts_json

CONFIG = {"type": "graphic"}


def _render(files: dict[str, str], config: dict | None = None, data: dict | None = None) -> dict[str, bytes]:
    return render.render_site({k: v.encode() for k, v in files.items()}, config or CONFIG, data or {"title": "T"})


def test_templates_render_copies_and_hidden_files() -> None:
    out = _render(
        {
            "autotune-config.json": "{}",
            "index.html.j2": "{% include '_parts/x.html' %}<p>{{ title }} {{ autotune['title'] }}</p>",
            "_parts/x.html": "<b>{{ note }}</b>",
            "data.json.j2": "{{ autotune | tojson }}",
            "img/logo.svg": "<svg/>",
            ".github/ci.yml": "x",
        },
        data={"title": "<T>", "note": "&"},
    )
    assert out["index.html"] == b"<b>&amp;</b><p>&lt;T&gt; &lt;T&gt;</p>"
    assert out["data.json"] == b'{"note": "\\u0026", "title": "\\u003cT\\u003e"}'
    assert out["img/logo.svg"] == b"<svg/>"
    assert set(out) == {"index.html", "data.json", "img/logo.svg"}


def test_a_source_folder_is_the_output_root() -> None:
    out = _render({"site/index.html.j2": "{{ title }}", "README.md": "x"}, {"type": "app", "source": "site"})
    assert out == {"index.html": b"T"}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ cycler.__init__.__globals__ }}", "unsafe"),
        ("{{ 'x' * 100000000 }}", "too large"),
        ("{{ 2 ** 100000 }}", "too large"),
        ("{% include 'missing.html' %}", "missing.html"),
        ("{% for %}", "index.html.j2, line 1"),
    ],
)
def test_the_sandbox_refuses_what_could_escape_or_exhaust(template: str, message: str) -> None:
    with pytest.raises(BuildFailed, match=message):
        _render({"index.html.j2": template})


def test_unsafe_attributes_read_as_undefined() -> None:
    assert _render({"index.html.j2": "[{{ ''.__class__ }}]"})["index.html"] == b"[]"


def test_a_blueprint_must_produce_an_index() -> None:
    with pytest.raises(BuildFailed, match=r"no index\.html"):
        _render({"page.html.j2": "x"})


@pytest.mark.parametrize(
    ("url", "fetched"),
    [
        ("https://github.com/voxmedia/autotune-example-blueprint.git", None),
        ("git@github.com:voxmedia/autotune-example-blueprint.git", "https://github.com/voxmedia/autotune-example-blueprint.git"),
        ("ssh://git@gitlab.com/team/bp.git", "https://gitlab.com/team/bp.git"),
    ],
)  # fmt: skip
def test_remote_repositories_are_fetched_over_https(url: str, fetched: str | None) -> None:
    assert gitrepo.validate_url(url, allow_local=False) == url
    assert gitrepo.fetch_url(url) == (fetched or url)


@pytest.mark.parametrize(
    "url", ["/srv/blueprints/quiz", "file:///srv/blueprints/quiz", "http://example.com/x.git", "ftp://x/y"]
)
def test_local_and_plain_http_repositories_need_the_setting(url: str) -> None:
    with pytest.raises(gitrepo.InvalidRepoUrl):
        gitrepo.validate_url(url, allow_local=False)
    if not url.startswith("ftp"):
        assert gitrepo.validate_url(url, allow_local=True) == url


def test_credentials_never_reach_the_output() -> None:
    assert gitrepo.display_url("https://bot:secret@github.com/org/bp.git") == "https://github.com/org/bp.git"


@pytest.mark.parametrize(
    ("text", "slug"),
    [("Election Night!", "election-night"), ("Ça va — bien", "ca-va-bien"), ("2024", "project-2024"),
     ("!!!", "project"), ("a_b  c", "a_b-c")],
)  # fmt: skip
def test_slugs_come_from_titles(text: str, slug: str) -> None:
    assert slugs.slug_from(text, "project") == slug


def test_project_slugs_start_with_their_theme() -> None:
    assert slugs.with_theme("election", "vox") == "vox-election"
    assert slugs.with_theme("vox-election", "vox") == "vox-election"
    assert slugs.sans_theme("vox-election", "vox") == "election"


@pytest.mark.parametrize(
    ("header", "key"),
    [("API-KEY auth=abc123", "abc123"), ('API-KEY auth="abc123"', "abc123"), ("api-key  auth = abc123 ", "abc123")],
)
def test_the_api_key_header_may_quote_the_key(header: str, key: str) -> None:
    assert parse_authorization(header) == key


@pytest.mark.parametrize("header", [None, "", "Bearer abc", "API-KEY abc", 'API-KEY auth=""'])
def test_other_authorization_headers_are_refused(header: str | None) -> None:
    with pytest.raises(MissingKey):
        parse_authorization(header)


@pytest.mark.parametrize(
    ("accept", "ok"),
    [("application/json", True), ("*/*", True), ("text/html, application/*;q=0.2", True),
     ("application/vnd.api+json", True), ("text/html", False), ("application/json;q=0", False)],
)  # fmt: skip
def test_accept_must_allow_json(accept: str, ok: bool) -> None:
    assert accepts_json(accept) is ok
