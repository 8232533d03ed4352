"""The rules of the publishing API's request bodies, which its request models (``contracts.py``) apply.

Each rule takes the value sent and answers the value the service uses (trimmed where Autotune trimmed it),
or raises a ``PydanticCustomError`` whose type is the error code and whose message is the documented one.
The field's type in the model only documents it: the rule decides, so no message is re-worded. Autotune's
bodies (projects, blueprints, themes) name every broken rule in one 400 (:func:`checked`); the operators'
bodies answer the first one (``chalicelib.contracts.rule_broken``).

Imported by the contracts only, so it is loaded with pydantic: when a body is validated or the document
served, never at app import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, WrapValidator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.publishing import fields, gitrepo
from chalicelib.settings import get_settings

MAX_TITLE, MAX_DATA_BYTES = 200, 200_000
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Rule = Callable[[Any, bool], Any]
B = TypeVar("B", bound=BaseModel)
_broken = partial(PydanticCustomError, "invalid")  # the code of Autotune's 400s


def rule(check: Rule) -> WrapValidator:
    """``check(value, creating)`` decides in place of the field's type; ``creating`` is True for a new item."""
    return WrapValidator(lambda value, _type, info: check(value, bool(info.context and info.context.get("create"))))


class Checked(BaseModel):
    """A body its fields' rules check; a field it must have is checked as null when left out."""

    @model_validator(mode="before")
    @classmethod
    def _complete(cls, data: Any) -> Any:
        needed = [name for name, spec in cls.model_fields.items() if spec.is_required()]
        return {**dict.fromkeys(needed), **data} if isinstance(data, dict) else data


def checked(model: type[B], body: dict[str, Any], *, create: bool) -> tuple[B | None, dict[str, str]]:
    """``body`` as ``model`` (None when it breaks a rule), and each field whose rule it breaks, with the
    message; in the fields' order, which is the order Autotune checked them in."""
    try:
        return model.model_validate(body, context={"create": create}), {}
    except ValidationError as e:
        return None, {str(error["loc"][0]): error["msg"] for error in e.errors(include_url=False)}


def as_given(value: Any, _creating: bool) -> Any:
    """An item named by id or slug: the service looks it up after the fields' rules (its problem comes last)."""
    return value


# --- projects, blueprints, themes ---------------------------------------------------------------------


def title(value: Any, creating: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if creating:
            raise _broken("Title can't be blank")
        return None
    if not isinstance(value, str) or len(value) > MAX_TITLE:
        raise _broken(f"Title must be a string of at most {MAX_TITLE} characters")
    return value.strip()


def slug(value: Any, _creating: bool) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise _broken("Slug must be a string of at most 200 characters")
    return value


def data(value: Any, _creating: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _broken("Data must be an object")
    if len(json.dumps(value, separators=(",", ":"))) > MAX_DATA_BYTES:
        raise _broken(f"Data must be at most {MAX_DATA_BYTES} bytes of JSON")
    return value


def choice(name: str, choices: tuple[str, ...]) -> Rule:
    """One of ``choices``: the list filters' rule (``fields.choice``)."""

    def check(value: Any, _creating: bool) -> str | None:
        found: list[str] = []
        chosen = fields.choice(value, choices, name, found)
        if found:
            raise _broken(found[0])
        return chosen

    return check


def repo_url(value: Any, creating: bool) -> str | None:
    if value is None or value == "":
        if creating:
            raise _broken("Repo url can't be blank")
        return None
    if not isinstance(value, str) or len(value) > 1000:
        raise _broken("Repo url must be a string")
    if gitrepo.carries_credentials(value.strip()):
        raise _broken(gitrepo.CREDENTIALS_IN_URL)  # refused, never stored: every author can read a blueprint
    try:
        return gitrepo.validate_url(value.strip(), allow_local=get_settings().allow_local_repos)
    except gitrepo.InvalidRepoUrl as e:
        raise _broken(str(e)) from None


def thumb_url(value: Any, _creating: bool) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://", "/")) or len(value) > 2000:
        raise _broken("Thumb url must be an http(s) URL")
    return value


# --- operators: users and groups -----------------------------------------------------------------------


def email(value: Any, _creating: bool) -> str:
    if not isinstance(value, str) or not re.match(EMAIL, value.strip()) or len(value) > 254:
        raise PydanticCustomError("invalid_email", "'email' must be an email address.")
    return value.strip().lower()


def name(value: Any, _creating: bool) -> str | None:
    """A user's name, trimmed; None when blank (the service then takes the email's local part)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise PydanticCustomError("invalid_name", "'name' must be a string of at most 200 characters.")
    return value.strip()


def superuser(value: Any, _creating: bool) -> bool:
    if not isinstance(value, bool):
        raise PydanticCustomError("invalid_superuser", "'superuser' must be true or false.")
    return value


def group_name(value: Any, _creating: bool) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise PydanticCustomError("invalid_name", "'name' is required: a string of at most 200 characters.")
    return value.strip()


def group_slug(value: Any, _creating: bool) -> str | None:
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError("invalid_slug", "'slug' must be a string.")
    return value
