"""Runs every benchmark and prints its figures (``make bench``)."""

from __future__ import annotations

from bench import cold_start, warm_get


def main() -> None:
    cold_start.main()
    print()
    warm_get.main()


if __name__ == "__main__":
    main()
