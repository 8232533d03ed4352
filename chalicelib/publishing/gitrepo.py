"""Blueprint repositories, read with dulwich (pure Python: Lambda has no git binary).

A repository is fetched into memory (``MemoryRepo``: nothing written to /tmp), and the files of one
commit are read from its tree: no work tree, no checkout, no hooks, nothing executed. Remote
repositories are reached over https (an SSH address such as ``git@github.com:org/repo.git`` is read
as its https equivalent); local paths and ``file://`` URLs only where ``ALLOW_LOCAL_REPOS`` is on.
HTTP goes through the outbound guard (:mod:`chalicelib.outbound`): hosts that resolve to private,
loopback or reserved addresses are refused, redirects included, and a failure is reported without the
connection error's details.
dulwich is imported here only, inside functions, so it never weighs on a cold start of the API.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from urllib3.exceptions import HTTPError

from chalicelib.http import parse_json
from chalicelib.publishing.buildlog import BuildFailed
from chalicelib.settings import get_settings

CONFIG_FILE = "autotune-config.json"
TYPES = ("graphic", "app")
MAX_FILES = 2_000
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
MAX_CONFIG_BYTES = 100_000
_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+\.[a-z]{2,}):(?P<path>(?!/)[^\s]+)\Z", re.IGNORECASE)
_COMMIT = re.compile(r"^[0-9a-f]{40}\Z")


class InvalidRepoUrl(ValueError):
    """A repository address Keyport will not fetch (the message says why)."""


@dataclass(frozen=True)
class Snapshot:
    """The files of one commit: path (``/``-separated, relative to the root) to content."""

    commit: str
    files: dict[str, bytes]


def _is_local(url: str) -> bool:
    return url.startswith("file://") or os.path.isabs(url)


def validate_url(url: str, *, allow_local: bool) -> str:
    """The address as it will be stored; :class:`InvalidRepoUrl` when it cannot be fetched from here."""
    if _is_local(url):
        if not allow_local:
            raise InvalidRepoUrl(
                "Repo url must be an https:// git URL (local paths are allowed only with ALLOW_LOCAL_REPOS)"
            )
        return url
    fetched = fetch_url(url)
    try:
        parts = urlsplit(fetched)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as e:
        raise InvalidRepoUrl("Repo url is not a valid URL") from e
    if parts.hostname and not _host_allowed(parts.hostname):
        raise InvalidRepoUrl("Repo url names an address Keyport does not fetch from (private, loopback or reserved)")
    if parts.scheme == "http" and allow_local:
        return url
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidRepoUrl("Repo url must be an https:// git URL (or git@host:org/repo.git)")
    return url


def _host_allowed(host: str) -> bool:
    from chalicelib import outbound  # on first use: the guard (ipaddress) stays out of every request's cold start

    return outbound.host_allowed(host, allow_loopback=get_settings().allow_http_loopback)


def fetch_url(url: str) -> str:
    """The URL actually fetched: SSH's ``git@host:path`` and ``ssh://git@host/path`` read over https."""
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        return f"https://{scp.group('host')}/{scp.group('path')}"
    parts = urlsplit(url)
    if parts.scheme in ("ssh", "git+ssh") and parts.hostname:
        return f"https://{parts.hostname}{parts.path}"
    return url


def display_url(url: str) -> str:
    """The URL without any credentials it carries, for logs and build output."""
    parts = urlsplit(url)
    if parts.password or parts.username:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


CREDENTIALS_IN_URL = (
    "Repo url must not contain credentials (a user name, password, token or query string): "
    "blueprints are fetched without credentials and every author can read their address"
)


def _ssh_user(url: str) -> str | None:
    """The user of an SSH address (``git@host:path``, ``ssh://git@host/path``), or None for other forms."""
    if "://" not in url:
        head = url.partition(":")[0]
        return head.rpartition("@")[0] if "@" in head else None
    if url.lower().startswith(("ssh://", "git+ssh://")):
        netloc = url.split("://", 1)[1].split("/", 1)[0]
        return netloc.rpartition("@")[0] if "@" in netloc else None
    return None


def carries_credentials(url: str) -> bool:
    """Whether a repository address carries a secret: user info (other than SSH's ``git@``) or a query."""
    if "?" in url or "#" in url:
        return True  # ?access_token=..., ?private_token=...: no git host needs a query to clone
    user = _ssh_user(url)
    if user is not None:
        return user != "git"
    if "://" not in url:
        return False  # scp-like without a user, or a local path
    try:
        parts = urlsplit(url)
    except ValueError:
        return False  # not a URL: validate_url refuses it
    return "@" in parts.netloc


def shown_url(url: str) -> str:
    """A stored address as the API shows it: any credentials stored before they were refused are cut off."""
    if not carries_credentials(url):
        return url
    url = url.split("?", 1)[0].split("#", 1)[0]
    if "://" not in url:
        head, sep, rest = url.partition(":")
        return head.rpartition("@")[2] + sep + rest if _ssh_user(url) not in (None, "git") else url
    scheme, _, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"


def read(url: str, commit: str | None) -> Snapshot:
    """The files of ``commit`` (or of the default branch's head) in the repository at ``url``."""
    from dulwich.repo import MemoryRepo  # on first use: dulwich stays out of the API's cold start

    settings = get_settings()
    try:
        validate_url(url, allow_local=settings.allow_local_repos)
    except InvalidRepoUrl as e:
        raise BuildFailed(str(e)) from e
    repo = MemoryRepo()
    try:
        client, path = _client(fetch_url(url))
        result = client.fetch(path, repo)
    except Exception as e:  # dulwich raises many kinds: unreachable host, no such repo, bad auth
        raise BuildFailed(f"Could not fetch the repository {display_url(url)}: {_reason(e)}") from e
    if commit is None:
        head = result.refs.get(b"HEAD")
        if head is None:
            raise BuildFailed("The repository has no HEAD: push a default branch first.")
        commit = head.decode()
    if not _COMMIT.match(commit):
        raise BuildFailed(f"'{commit[:80]}' is not a commit id.")
    try:
        target = repo[commit.encode()]
    except KeyError as e:
        raise BuildFailed(f"Commit {commit} is no longer in the repository; upgrade the project.") from e
    return Snapshot(commit, _files(repo, target))


def _client(url: str) -> tuple[Any, str]:
    # On first use: dulwich and the outbound guard stay out of the API's cold start.
    from dulwich.client import default_user_agent_string, get_transport_and_path

    from chalicelib import outbound

    if _is_local(url):
        return get_transport_and_path(url)
    # The guarded pool manager: no proxy or git config from the environment, redirects re-checked.
    manager = outbound.pool_manager(
        headers={"User-agent": default_user_agent_string()},
        timeout=outbound.timeout(),
        cert_reqs="CERT_REQUIRED",
    )
    return get_transport_and_path(url, pool_manager=manager)


def _reason(error: Exception) -> str:
    """Why a fetch failed, in words that name no address, port or connection error."""
    # On first use: dulwich and the outbound guard stay out of the API's cold start.
    from dulwich.client import HTTPUnauthorized
    from dulwich.errors import GitProtocolError, HangupException, NotGitRepository

    from chalicelib import outbound

    if isinstance(error, outbound.DestinationNotAllowed):
        return "its address is not allowed."
    if isinstance(error, NotGitRepository):
        return "there is no git repository at this address."
    if isinstance(error, HTTPUnauthorized):
        return "the server asks for credentials, or refused the ones given."
    if isinstance(error, GitProtocolError | HangupException | OSError) or _is_http_error(error):
        return "the server could not be reached or did not answer as a git server."
    return f"the fetch failed ({type(error).__name__})."


def _is_http_error(error: Exception) -> bool:
    return isinstance(error, HTTPError)


def _files(repo: Any, commit: Any) -> dict[str, bytes]:
    from dulwich.objects import Commit  # on first use: dulwich stays out of the API's cold start

    if not isinstance(commit, Commit):
        raise BuildFailed("The version does not name a commit.")
    files: dict[str, bytes] = {}
    total = 0
    for entry in repo.object_store.iter_tree_contents(commit.tree):
        if not stat.S_ISREG(entry.mode):
            continue  # symlinks and submodules are not part of a blueprint's output
        path = entry.path.decode("utf-8", "replace")
        blob = repo[entry.sha].data
        if len(blob) > MAX_FILE_BYTES:
            raise BuildFailed(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        total += len(blob)
        if total > MAX_TOTAL_BYTES or len(files) >= MAX_FILES:
            raise BuildFailed(f"The blueprint is too large (at most {MAX_FILES} files, 50 MB).")
        files[path] = blob
    return files


def config_of(snapshot: Snapshot) -> dict[str, Any]:
    """The blueprint's ``autotune-config.json``, checked: an object with ``type`` graphic or app."""
    raw = snapshot.files.get(CONFIG_FILE)
    if raw is None:
        raise BuildFailed(f"The repository has no {CONFIG_FILE} at its root.")
    if len(raw) > MAX_CONFIG_BYTES:
        raise BuildFailed(f"{CONFIG_FILE} is larger than {MAX_CONFIG_BYTES} bytes.")
    try:
        config = parse_json(raw)
    except ValueError as e:  # malformed, not UTF-8, or beyond the request limits (nesting, numbers)
        raise BuildFailed(f"{CONFIG_FILE} is not valid JSON: {e}") from e
    if not isinstance(config, dict):
        raise BuildFailed(f"{CONFIG_FILE} must hold a JSON object.")
    if config.get("type") not in TYPES:
        raise BuildFailed(f'{CONFIG_FILE} must set "type" to "graphic" or "app".')
    source = config.get("source", "")
    if not isinstance(source, str) or ".." in source.split("/") or source.startswith("/"):
        raise BuildFailed(f'{CONFIG_FILE}: "source" must be a folder of the repository, such as "site".')
    return config
