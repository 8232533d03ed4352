"""Runs every benchmark and prints its figures (``make bench``)."""

from __future__ import annotations

from bench import (
    broker_fetch,
    cold_start,
    first_request,
    local_throughput,
    package_size,
    secret_read,
    sweep,
    sweep_scale,
    warm_get,
)


def main() -> None:
    package_size.main([])
    print()
    cold_start.main()
    print()
    first_request.main([])
    print()
    warm_get.main()
    sweep.main()
    sweep_scale.main()
    print()
    broker_fetch.main()
    print()
    secret_read.main()
    print()
    local_throughput.main([])


if __name__ == "__main__":
    main()
