"""Credential broker: customers and their instances, keys rotated and shown once.

Each page imports the service it shows when it runs: the first dashboard request loads only that one.
"""

from __future__ import annotations

from chalice.app import Response

from chalicelib.dashboard.actions import Key, Question, created_key, delete, rotate
from chalicelib.dashboard.context import PAGE_SIZE, Ctx
from chalicelib.errors import KeyportError, NotFound

CUSTOMER_KEY = Key("broker", "customer", "API key", "api_key", owner_field="name")
INSTANCE_KEY = Key("broker", "instance", "proxy key", "proxy_key", owner_field="name", owner_prefix="Instance ")


def broker_page(ctx: Ctx) -> Response:
    from chalicelib.broker import admin

    error = None
    if ctx.posted:
        try:
            created = admin.create_customer({"name": ctx.form.get("name", "")})
        except KeyportError as e:
            error = e
        else:
            note = "Give this key to the customer now: it is shown only this once and stored only as a hash."
            then = ctx.url("broker", "customers", created["id"]), "Open the customer"
            return created_key(ctx, CUSTOMER_KEY, created, note, then)
    listed = admin.list_customers(PAGE_SIZE, ctx.query("cursor") or None)
    return ctx.show(
        "broker.html",
        error.status if error else 200,
        nav="broker",
        customers=listed["data"],
        next_cursor=listed["next_cursor"],
        error=error,
    )


def customer_page(ctx: Ctx, customer_id: str) -> Response:
    from chalicelib.broker import admin

    error = None
    if ctx.posted:
        try:
            created = admin.create_instance(customer_id, {"name": ctx.form.get("name", "")})
        except KeyportError as e:
            if isinstance(e, NotFound):
                raise
            error = e
        else:
            note = "Configure the instance with this key now: it is shown only this once."
            return created_key(ctx, INSTANCE_KEY, created, note, _customer(ctx, customer_id))
    view = admin.get_customer(customer_id)
    listed = admin.list_instances(customer_id, PAGE_SIZE, ctx.query("cursor") or None)
    return ctx.show(
        "customer.html",
        error.status if error else 200,
        nav="broker",
        customer=view,
        instances=listed["data"],
        next_cursor=listed["next_cursor"],
        error=error,
    )


def _customer(ctx: Ctx, customer_id: str) -> tuple[str, str]:
    return ctx.url("broker", "customers", customer_id), "Back to the customer"


def customer_rotate(ctx: Ctx, customer_id: str) -> Response:
    from chalicelib.broker import admin

    service = (admin.get_customer, admin.rotate_customer_key)
    return rotate(ctx, CUSTOMER_KEY, service, (customer_id,), _customer(ctx, customer_id))


def instance_rotate(ctx: Ctx, customer_id: str, instance_id: str) -> Response:
    from chalicelib.broker import admin

    service = (admin.get_instance, admin.rotate_instance_key)
    return rotate(ctx, INSTANCE_KEY, service, (customer_id, instance_id), _customer(ctx, customer_id))


def customer_delete(ctx: Ctx, customer_id: str) -> Response:
    from chalicelib.broker import admin

    def question() -> Question:
        name = admin.get_customer(customer_id)["name"]
        consequence = "its API key and proxy keys stop working."
        message = f"{name} will be deleted with its instances, connections and grants; {consequence}"
        return Question("Delete this customer?", message, "Delete customer", _customer(ctx, customer_id)[0])

    back = ctx.back("broker", notice="customer_deleted")
    return delete(ctx, question, lambda: admin.delete_customer(customer_id), "broker.customer_deleted", back)


def instance_delete(ctx: Ctx, customer_id: str, instance_id: str) -> Response:
    from chalicelib.broker import admin

    def question() -> Question:
        name = admin.get_instance(customer_id, instance_id)["name"]
        message = f"Instance {name} will be deleted, with its grants; its proxy key stops working."
        return Question("Delete this instance?", message, "Delete instance", _customer(ctx, customer_id)[0])

    back = ctx.back("broker", "customers", customer_id, notice="instance_deleted")
    return delete(
        ctx, question, lambda: admin.delete_instance(customer_id, instance_id), "broker.instance_deleted", back
    )
