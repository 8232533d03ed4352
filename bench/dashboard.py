"""The dashboard's cost: what its routes add to a cold start, warm page times and the heaviest page's size.

    python -m bench.dashboard

Starts the local stack (``make run``'s program), signs in, saves a configuration and an
authentication through the REST API so the pages have something to show, then times warm GETs of
each page (median of ``BENCH_RUNS`` after one warm-up) and adds up each page's transfer (HTML, the
stylesheet and the script, as sent, without compression).
"""

from __future__ import annotations

import os
import statistics
import time

import requests

from bench.cold_start import measure

RUNS = int(os.environ.get("BENCH_RUNS", "20"))


def _pages(url: str, auth: tuple[str, str]) -> dict[str, str]:
    api = f"{url}/api/github"
    setup = requests.post(
        f"{api}/configurations",
        auth=auth,
        json={"credentials": {"clientId": "bench-client-id-0001", "clientSecret": "bench-client-secret-0001"}},
        timeout=10,
    ).json()["configuration"]["id"]
    auth_id = "bench-auth"
    payload = {"accessToken": "bench-access-token", "refreshToken": "bench-refresh", "expiresIn": 3600}
    created = requests.post(
        f"{api}/authentications",
        auth=auth,
        json={"setup_id": setup, "auth_id": auth_id, "payload": payload},
        timeout=10,
    )
    created.raise_for_status()
    base = f"{url}/dashboard"
    return {
        "integrations (104 tiles)": base,
        "integration": f"{base}/integrations/github",
        "authentication": f"{base}/integrations/github/authentications/{auth_id}",
        "broker": f"{base}/broker",
        "publishing": f"{base}/publishing",
        "entity store": f"{base}/entities",
        "activity": f"{base}/activity",
        "REST baseline: GET /api/": f"{url}/api/",
        "REST baseline: GET authn": f"{api}/authentications/{auth_id}",
    }


def main() -> None:
    print("Dashboard: cold-start cost of its routes (median of fresh interpreters)")
    bare = measure("import chalice.app")
    with_routes = measure("import chalice.app, chalicelib.dashboard.routes")
    print(f"  chalicelib.dashboard.routes on top of chalice.app  {with_routes - bare:6.1f} ms")
    print(
        f"  jinja2 + the page module (paid on the first dashboard request only)  "
        f"{measure('import chalicelib.dashboard.pages, chalicelib.dashboard.render, jinja2'):6.1f} ms"
    )

    from tests.e2e.conftest import start_stack, stop_stack

    stack = start_stack()
    try:
        session = requests.Session()
        session.post(
            f"{stack.url}/dashboard/sign-in",
            data={"secret_key": stack.secret_key},
            headers={"Origin": stack.url},
            allow_redirects=False,
            timeout=10,
        ).raise_for_status()
        pages = _pages(stack.url, stack.auth)
        assets = 0
        for name in ("dashboard.css", "dashboard.js"):
            assets += len(session.get(f"{stack.url}/dashboard/static/{name}", timeout=10).content)
        print(f"\nDashboard pages, warm, local stack: median of {RUNS} GETs (after one warm-up)")
        heaviest = ("", 0)
        auth = stack.auth
        for name, page in pages.items():
            session.get(page, timeout=10, auth=auth if "/api/" in page else None)
            samples = []
            size = 0
            for _ in range(RUNS):
                start = time.perf_counter()
                answer = session.get(page, timeout=10, allow_redirects=False, auth=auth if "/api/" in page else None)
                samples.append((time.perf_counter() - start) * 1000)
                size = len(answer.content)
            p90 = sorted(samples)[int(RUNS * 0.9) - 1]
            print(f"  {name:<26} {statistics.median(samples):6.1f} ms   p90 {p90:6.1f} ms   body {size / 1024:6.1f} kB")
            if "/api/" not in page:
                heaviest = max(heaviest, (name, size + assets), key=lambda pair: pair[1])
        print(f"  stylesheet + script      {assets / 1024:6.1f} kB (cached for a year after the first page)")
        print(f"  heaviest page transfer   {heaviest[1] / 1024:6.1f} kB ({heaviest[0]}, HTML + stylesheet + script)")
    finally:
        stop_stack(stack)


if __name__ == "__main__":
    main()
