"""The operator dashboard: server-rendered pages under ``/dashboard`` over the services' own functions."""
