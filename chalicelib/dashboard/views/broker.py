"""Credential broker: customers and their instances, keys rotated and shown once."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.dashboard.context import PAGE_SIZE, Ctx, confirm, secret_once
from chalicelib.errors import KeyportError, NotFound


def broker_page(ctx: Ctx) -> Response:
    from chalicelib.broker import admin

    error = None
    if ctx.posted:
        try:
            created = admin.create_customer({"name": ctx.form.get("name", "")})
        except KeyportError as e:
            error = e
        else:
            return secret_once(
                ctx,
                nav="broker",
                title=f"Customer {created['name']} created",
                label="API key",
                secret=created["api_key"],
                note="Give this key to the customer now: it is shown only this once and stored only as a hash.",
                next_url=ctx.url("broker", "customers", created["id"]),
                next_label="Open the customer",
            )
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
            return secret_once(
                ctx,
                nav="broker",
                title=f"Instance {created['name']} created",
                label="Proxy key",
                secret=created["proxy_key"],
                note="Configure the instance with this key now: it is shown only this once.",
                next_url=ctx.url("broker", "customers", customer_id),
                next_label="Back to the customer",
            )
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


def customer_rotate(ctx: Ctx, customer_id: str) -> Response:
    from chalicelib.broker import admin

    if not ctx.posted:
        view = admin.get_customer(customer_id)
        return confirm(
            ctx,
            title="Rotate this customer's API key?",
            message=f"{view['name']} gets a new API key; the current one stops working at once.",
            action=ctx.url("broker", "customers", customer_id, "rotate-key"),
            button="Rotate key",
            cancel=ctx.url("broker", "customers", customer_id),
        )
    rotated = admin.rotate_customer_key(customer_id)
    return secret_once(
        ctx,
        nav="broker",
        title=f"New API key for {rotated['name']}",
        label="API key",
        secret=rotated["api_key"],
        note="The previous key no longer works. This one is shown only now.",
        next_url=ctx.url("broker", "customers", customer_id),
        next_label="Back to the customer",
    )


def customer_delete(ctx: Ctx, customer_id: str) -> Response:
    from chalicelib.broker import admin

    if not ctx.posted:
        view = admin.get_customer(customer_id)
        return confirm(
            ctx,
            title="Delete this customer?",
            message=f"{view['name']} will be deleted with its instances, connections and grants; "
            "its API key and proxy keys stop working.",
            action=ctx.url("broker", "customers", customer_id, "delete"),
            button="Delete customer",
            cancel=ctx.url("broker", "customers", customer_id),
        )
    admin.delete_customer(customer_id)
    return ctx.back("broker", notice="customer_deleted")


def instance_rotate(ctx: Ctx, customer_id: str, instance_id: str) -> Response:
    from chalicelib.broker import admin

    if not ctx.posted:
        view = admin.get_instance(customer_id, instance_id)
        return confirm(
            ctx,
            title="Rotate this instance's proxy key?",
            message=f"Instance {view['name']} gets a new proxy key; the current one stops working at once.",
            action=ctx.url("broker", "customers", customer_id, "instances", instance_id, "rotate-key"),
            button="Rotate key",
            cancel=ctx.url("broker", "customers", customer_id),
        )
    rotated = admin.rotate_instance_key(customer_id, instance_id)
    return secret_once(
        ctx,
        nav="broker",
        title=f"New proxy key for {rotated['name']}",
        label="Proxy key",
        secret=rotated["proxy_key"],
        note="The previous key no longer works. This one is shown only now.",
        next_url=ctx.url("broker", "customers", customer_id),
        next_label="Back to the customer",
    )


def instance_delete(ctx: Ctx, customer_id: str, instance_id: str) -> Response:
    from chalicelib.broker import admin

    if not ctx.posted:
        view = admin.get_instance(customer_id, instance_id)
        return confirm(
            ctx,
            title="Delete this instance?",
            message=f"Instance {view['name']} will be deleted, with its grants; its proxy key stops working.",
            action=ctx.url("broker", "customers", customer_id, "instances", instance_id, "delete"),
            button="Delete instance",
            cancel=ctx.url("broker", "customers", customer_id),
        )
    admin.delete_instance(customer_id, instance_id)
    return ctx.back("broker", "customers", customer_id, notice="instance_deleted")
