"""The operator dashboard: HTML pages under ``/dashboard``; its errors are pages too."""

from chalicelib.services import Service

SERVICE = Service(name="dashboard", prefixes=("/dashboard",), error_style="dashboard")
