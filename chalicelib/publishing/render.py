"""Rendering a blueprint: its Jinja2 templates in a sandbox, with the build data.

The blueprint format (docs/publishing.md): under the config's ``source`` folder (default: the root),
every ``*.j2`` file is a template whose output drops the ``.j2`` (``index.html.j2`` -> ``index.html``);
every other file is copied as it is. Files and folders whose name starts with ``_`` or ``.`` are not
output (``_layouts/``, ``_partials/`` hold what templates include or extend), nor is the config file.
Templates see the build data as variables (``title``, ``theme_data``, the project's own fields...) and
all of it as ``autotune``. HTML, XML and SVG output is autoescaped.

Jinja2's ``SandboxedEnvironment`` refuses unsafe attribute access (``__class__``, ``mro``...), so a
template cannot reach Python; this one also refuses huge repetitions and powers. Templates load only
from the repository's own files held in memory, never from the file system.
"""

from __future__ import annotations

import posixpath
from typing import Any

from chalicelib.publishing.buildlog import BuildFailed
from chalicelib.publishing.gitrepo import CONFIG_FILE

TEMPLATE_SUFFIX = ".j2"
ESCAPED_EXTENSIONS = (".html", ".htm", ".xml", ".svg", ".xhtml")
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
MAX_REPEAT = 1_000_000
MAX_EXPONENT = 1_000


def _environment(templates: dict[str, str]) -> Any:
    # On first use: Jinja2 stays out of the API's cold start (only the build worker renders).
    from jinja2 import DictLoader
    from jinja2.sandbox import SandboxedEnvironment, SecurityError

    class Sandbox(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is too large")
            if operator == "*" and _repeat_length(left, right) > MAX_REPEAT:
                raise SecurityError("the repeated value would be too large")
            return super().call_binop(context, operator, left, right)

    def autoescape(name: str | None) -> bool:
        name = (name or "").removesuffix(TEMPLATE_SUFFIX).lower()
        return name.endswith(ESCAPED_EXTENSIONS)

    return Sandbox(loader=DictLoader(templates), autoescape=autoescape, keep_trailing_newline=True)


def _repeat_length(left: Any, right: Any) -> int:
    """The length of ``left * right`` when it repeats a sequence, else 0."""
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(times, int):
            return len(sequence) * times
    return 0


def _hidden(relative: str) -> bool:
    return relative == CONFIG_FILE or any(part.startswith(("_", ".")) for part in relative.split("/"))


def _texts(files: dict[str, bytes], prefix: str) -> dict[str, str]:
    """The repository's text files under the source folder: what templates may load, include or extend."""
    texts = {}
    for path, content in files.items():
        if path.startswith(prefix):
            try:
                texts[path[len(prefix) :]] = content.decode("utf-8")
            except UnicodeDecodeError:
                if path.endswith(TEMPLATE_SUFFIX):
                    raise BuildFailed(f"{path} is not UTF-8 text.") from None
    return texts


def _render(environment: Any, relative: str, context: dict[str, Any]) -> bytes:
    from jinja2 import TemplateError, TemplateSyntaxError  # on first use, as above

    try:
        return bytes(environment.get_template(relative).render(context).encode("utf-8"))
    except TemplateSyntaxError as e:
        raise BuildFailed(f"{e.filename or e.name or relative}, line {e.lineno}: {e.message}") from e
    except TemplateError as e:
        raise BuildFailed(f"{relative}: {e.message or type(e).__name__}") from e
    except (RecursionError, OverflowError, ZeroDivisionError, TypeError, ValueError) as e:
        raise BuildFailed(f"{relative}: {type(e).__name__}: {str(e)[:300]}") from e


def render_site(files: dict[str, bytes], config: dict[str, Any], data: dict[str, Any]) -> dict[str, bytes]:
    """The files to publish: rendered templates and copied assets, by path relative to the output root."""
    source = str(config.get("source") or "").strip("/")
    prefix = f"{source}/" if source else ""
    environment = _environment(_texts(files, prefix))
    context = {**data, "autotune": data}
    output: dict[str, bytes] = {}
    total = 0
    for path, content in sorted(files.items()):
        relative = path[len(prefix) :]
        if not path.startswith(prefix) or _hidden(relative):
            continue
        if relative.endswith(TEMPLATE_SUFFIX):
            target, body = relative.removesuffix(TEMPLATE_SUFFIX), _render(environment, relative, context)
        else:
            target, body = relative, content
        total += len(body)
        if total > MAX_OUTPUT_BYTES:
            raise BuildFailed("The build output is larger than 50 MB.")
        output[posixpath.normpath(target)] = body
    if "index.html" not in output:
        raise BuildFailed(f"The blueprint produced no index.html (add index.html.j2 to {source or 'its root'}).")
    return output
