"""Publishing (Autotune's Web API); its blueprint also carries the build worker and the build sweep."""

from chalicelib.services import Service

SERVICE = Service(
    name="publishing",
    prefixes=("/projects", "/blueprints", "/themes"),
    error_style="autotune",
    error_schema="AutotuneError",
    creates=("/projects", "/blueprints", "/themes", "/admin/autotune/users", "/admin/autotune/groups"),
)
