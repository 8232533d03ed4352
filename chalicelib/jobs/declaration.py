"""Scheduled work that belongs to no one service: the refresh sweep over every declared refresh source."""

from chalicelib.services import Service

SERVICE = Service(name="jobs", blueprint="functions", openapi=None)
