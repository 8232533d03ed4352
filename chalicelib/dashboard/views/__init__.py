"""The dashboard's pages, one module per section (routed by chalicelib/dashboard/pages.py)."""
