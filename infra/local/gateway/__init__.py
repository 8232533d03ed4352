"""A local API Gateway (REST + WebSocket) and Lambda emulator for a Chalice app, on one aiohttp port.

Every HTTP request is turned into the REST API Lambda proxy event (payload format 1.0) that API Gateway
would send, every websocket connect / frame / close into the WebSocket API event, and the app's own
Lambda handler (``app(event, context)`` or the wrapped handler Chalice registered) is called with it.
The same port also serves the API Gateway management API (``/@connections/{id}``) and the Lambda
``Invoke`` API (``/2015-03-31/functions/{name}/invocations``) so that boto3 clients pointed at the
gateway work unchanged, and EventBridge's schedules run the app's ``rate(...)`` functions. See
``docs/local-gateway.md``.

One module per emulated AWS API, over a small core:

* ``core``: limits, shared state, calling the app (in this process or on a worker)
* ``infra.local.lambda_context`` (beside this package): the Lambda context, shared with the workers
* ``routing``: which REST resource a path hits; ``events``: event parts shared by REST and WebSocket
* ``rest``: REST API proxy events; ``websocket``: WebSocket API and the ``@connections`` management API
* ``invoke``: Lambda ``Invoke``; ``schedules``: EventBridge schedules
* ``server``: :class:`LocalGateway` (all of the above on one port), :func:`run_in_thread`

With a :class:`~infra.local.workers.WorkerPool` (what the local stack uses), each invocation runs in
a free worker process, one invocation per worker at a time, as Lambda runs concurrent invocations in
separate instances. Without one, calls into the app are serialised with one lock (Chalice keeps the
current request on the app object) and run in threads of this process; the unit tests use that mode.
Either way the event loop stays free for the app's calls back into the gateway.
"""

from infra.local.gateway.core import (
    MAX_HEADER_BYTES,
    MAX_REQUEST_BODY,
    MAX_SYNC_RESPONSE_PAYLOAD,
    MAX_URL_LENGTH,
)
from infra.local.gateway.routing import content_type_matches, match_route
from infra.local.gateway.schedules import parse_rate
from infra.local.gateway.server import GatewayThread, LocalGateway, run_in_thread
from infra.local.lambda_context import FakeLambdaContext

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_REQUEST_BODY",
    "MAX_SYNC_RESPONSE_PAYLOAD",
    "MAX_URL_LENGTH",
    "FakeLambdaContext",
    "GatewayThread",
    "LocalGateway",
    "content_type_matches",
    "match_route",
    "parse_rate",
    "run_in_thread",
]
