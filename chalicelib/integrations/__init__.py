"""The integrations service: Pizzly's REST API, connect flow and proxy."""
