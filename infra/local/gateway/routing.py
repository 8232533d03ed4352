"""API Gateway REST routing: which resource a request path hits, and the binary media type rule (pure functions)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote


def content_type_matches(content_type: str, binary_types: Iterable[str]) -> bool:
    """Chalice's (and API Gateway's) binary media type rule: ``*/*`` on either side matches everything,
    otherwise one of the ``,``/``;``-separated parts of ``content_type`` must be one of ``binary_types``
    (case-insensitively). Mirrors ``chalice.app._matches_content_type``."""
    content_type = content_type.lower()
    valid = {t.lower() for t in binary_types}
    if "*/*" in content_type or "*/*" in valid:
        return True
    parts = {p.strip() for p in re.split("[,;]", content_type)}
    return bool(valid & parts)


def _split_pattern(pattern: str) -> list[str]:
    stripped = pattern.strip("/")
    return stripped.split("/") if stripped else []


def _segment_kind(segment: str) -> int:
    """0 = static, 1 = ``{var}``, 2 = greedy ``{var+}`` (lower wins, as in API Gateway)."""
    if segment.startswith("{") and segment.endswith("}"):
        return 2 if segment.endswith("+}") else 1
    return 0


@functools.lru_cache(maxsize=4096)
def _compile_pattern(pattern: str) -> tuple[tuple[str, int], ...]:
    """A route pattern's segments with their kinds, computed once per pattern."""
    return tuple((part, _segment_kind(part)) for part in _split_pattern(pattern))


def _match_pattern(
    pattern: tuple[tuple[str, int], ...], segments: list[str]
) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match decoded request ``segments`` against one compiled route ``pattern``; (score, params) or None."""
    if (not pattern or pattern[-1][1] != 2) and len(pattern) != len(segments):
        return None  # only a greedy pattern matches a path of another length
    score: list[int] = []
    params: dict[str, str] = {}
    for index, (part, kind) in enumerate(pattern):
        if kind == 2:
            rest = segments[index:]
            if index != len(pattern) - 1 or not rest or not "/".join(rest):
                return None
            params[part[1:-2]] = "/".join(rest)
            score.append(2)
            return tuple(score), params
        if index >= len(segments):
            return None
        segment = segments[index]
        if kind == 1:
            if not segment:
                return None
            params[part[1:-1]] = segment
        elif segment != part:
            return None
        score.append(kind)
    if len(segments) != len(pattern):
        return None
    return tuple(score), params


def _has_method(methods: Mapping[str, Any], method: str) -> bool:
    """Whether a resource has ``method``: declared, ``ANY``, or the CORS preflight Chalice adds."""
    if method in methods or "ANY" in methods:
        return True
    return method == "OPTIONS" and any(getattr(entry, "cors", None) for entry in methods.values())


def match_route(
    routes: Mapping[str, Mapping[str, Any]], raw_path: str, method: str | None = None
) -> tuple[str, dict[str, str]] | None:
    """The API Gateway REST resource for ``raw_path`` (still percent-encoded) and its path parameters.

    Segment by segment a static segment beats ``{var}``, which beats a greedy ``{var+}`` (one or more
    remaining segments); the first segment where two candidates differ decides (API Gateway's resource
    tree walk, with backtracking). One trailing slash is ignored. Parameter values are URL-decoded;
    a greedy value is the rest of the path without its leading slash. Resources with no methods
    (``app.routes`` is a defaultdict) are skipped: API Gateway creates method-less resources for
    intermediate segments (``/admin`` under ``/admin/users``), and a request to one falls through to
    the next candidate, such as a greedy ``/{proxy+}``. With ``method``, routing is on the
    resource-and-method pair, as in API Gateway: a resource without that method is skipped the same
    way, so ``None`` means 403 Missing Authentication Token.
    """
    path = raw_path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    stripped = path[1:] if path.startswith("/") else path
    segments = [unquote(s) for s in stripped.split("/")] if stripped else []
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for pattern, methods in routes.items():
        if not methods or (method is not None and not _has_method(methods, method)):
            continue
        found = _match_pattern(_compile_pattern(pattern), segments)
        if found is None:
            continue
        score, params = found
        if best is None or score < best[0]:
            best = (score, pattern, params)
    if best is None:
        return None
    return best[1], best[2]
