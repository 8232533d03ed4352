"""Test helpers shared by several test files: local stand-ins for outside services."""
