"""Infrastructure helpers for Keyport (deployment and local emulation)."""
