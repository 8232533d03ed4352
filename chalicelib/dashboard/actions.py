"""Actions that ask first: the confirm page on GET; on POST the service call, its activity line, the answer.

Every deletion and key rotation of the dashboard goes this way. The confirm page posts back to its own
URL with the session's form token (checked before any page runs), so a change takes two requests made
from the dashboard itself. Keys the services issue are shown once, here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice.app import Response

from chalicelib import activity
from chalicelib.dashboard.context import ACTOR, Ctx, confirm, secret_once

T = TypeVar("T")

ROTATED_NOTE = "The previous key no longer works. This one is shown only now."


@dataclass(frozen=True)
class Question:
    """What the confirm page asks: its title, what will happen, its button, and where Cancel leads."""

    title: str
    message: str
    button: str
    cancel: str


def ask_first(
    ctx: Ctx, question: Callable[[], Question], act: Callable[[], T], kind: str, answer: Callable[[T], Response]
) -> Response:
    """GET: the confirm page (``question`` reads what it names, so an unknown one is a 404 page).

    POST: ``act`` calls the service; the activity log records ``kind`` on the page's subject (its path
    parameters, joined by ``/``); ``answer`` says where the browser goes next.
    """
    if not ctx.posted:
        asked = question()
        return confirm(
            ctx, title=asked.title, message=asked.message, action=ctx.here, button=asked.button, cancel=asked.cancel
        )
    done = act()
    activity.record(kind, ACTOR, "/".join(ctx.params.values()))
    return answer(done)


def delete(ctx: Ctx, question: Callable[[], Question], act: Callable[[], Any], kind: str, back: Response) -> Response:
    """A deletion: asked first, then done, logged, and ``back`` (a redirect with its notice)."""
    return ask_first(ctx, question, act, kind, lambda _: back)


# --- keys -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """A key the services issue: whose it is, what it is called, and the fields of the services' answers."""

    nav: str  # the dashboard section
    whose: str  # "customer": "Customer Acme created", "Rotate this customer's API key?"
    name: str  # "API key", "proxy key"
    secret_field: str  # where an answer holds the new key
    owner_field: str  # where an answer names the key's owner
    owner_prefix: str = ""  # before the owner's name in the rotation's question ("Instance ")

    @property
    def label(self) -> str:
        return self.name[0].upper() + self.name[1:]


def show_key(ctx: Ctx, key: Key, title: str, answer: dict[str, Any], note: str, then: tuple[str, str]) -> Response:
    """A key just issued, shown this once; ``then`` is the link onwards (URL, label)."""
    secret = answer[key.secret_field]
    next_url, next_label = then
    return secret_once(
        ctx,
        nav=key.nav,
        title=title,
        label=key.label,
        secret=secret,
        note=note,
        next_url=next_url,
        next_label=next_label,
    )


def created_key(ctx: Ctx, key: Key, created: dict[str, Any], note: str, then: tuple[str, str]) -> Response:
    """The key of a customer, instance or user just created, shown once."""
    title = f"{key.whose.capitalize()} {created[key.owner_field]} created"
    return show_key(ctx, key, title, created, note, then)


def rotate(
    ctx: Ctx,
    key: Key,
    service: tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]]],
    args: tuple[str, ...],
    back: tuple[str, str],
) -> Response:
    """A key rotation: ``service`` is (read the owner, rotate its key), both called with ``args``; asked
    first, then the new key shown once with a link ``back`` (URL, label)."""
    read, act = service

    def question() -> Question:
        owner = f"{key.owner_prefix}{read(*args)[key.owner_field]}"
        message = f"{owner} gets a new {key.name}; the current one stops working at once."
        return Question(f"Rotate this {key.whose}'s {key.name}?", message, "Rotate key", back[0])

    def answer(rotated: dict[str, Any]) -> Response:
        return show_key(ctx, key, f"New {key.name} for {rotated[key.owner_field]}", rotated, ROTATED_NOTE, back)

    return ask_first(ctx, question, lambda: act(*args), f"{key.nav}.{key.whose}_key_rotated", answer)
