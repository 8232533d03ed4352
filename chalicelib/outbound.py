"""The one guard of every outbound HTTP call Keyport makes on a caller's behalf.

The proxy, the OAuth token and refresh calls, the GitHub token check and the git fetches of blueprint
repositories all connect through :func:`session` (requests) or :func:`pool_manager` (urllib3, for
dulwich). Their connections resolve the host name once, refuse the request unless every address is
public (no private, loopback, link-local, shared, multicast, unspecified or reserved range, IPv4 or
IPv6, IPv4 addresses embedded in IPv6 included), and connect to the address that was checked: a DNS
answer cannot change between the check and the connection. TLS still verifies the certificate, and
sends SNI, for the host name of the URL. Redirects, where a caller follows them, open new connections
through the same guard. Loopback is allowed only with ``ALLOW_HTTP_LOOPBACK`` (the local stack and the
tests, whose peers listen on 127.0.0.1).

Writers check URLs early with :func:`host_allowed` (literal addresses in any form ``inet_aton`` reads,
``localhost``); names are checked when they are resolved, which is the real guard.

``requests`` and ``urllib3`` are imported on first use only, and the session is built once per
process and reused (its connection pools too).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.errors import Forbidden

if TYPE_CHECKING:
    import requests
    import urllib3
    import urllib3.connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

MAX_REDIRECTS = 5

# Ranges refused whatever the running Python's ipaddress tables say about them (they changed across
# 3.11 and 3.12 point releases); everything else must also be ``is_global``. Parsed on first use.
_REFUSED = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
    "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)  # fmt: skip
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _refused_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n) for n in _REFUSED)


class DestinationNotAllowed(Forbidden):
    """An outbound request to an address Keyport does not call (the message never says which)."""

    code = "destination_not_allowed"
    default_message = "The destination of this request is not allowed."


# --- classification ----------------------------------------------------------------------------------


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, translated, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64 or address in _IPV4_TRANSLATED:
        return low32
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # ::a.b.c.d, but not :: and ::1
        return low32
    return None


def address_allowed(address: str | IPAddress, *, allow_loopback: bool) -> bool:
    """Whether Keyport may connect to ``address``: public, or loopback where ``allow_loopback``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            # Only an IPv4-mapped address reaches this host's own loopback; 6to4 or NAT64 go to a relay.
            return address_allowed(embedded, allow_loopback=allow_loopback and ip.ipv4_mapped is not None)
        if ip.teredo is not None:
            return False
    if ip.is_loopback:
        return allow_loopback
    if any(ip in network for network in _refused_networks()):
        return False
    special = ip.is_private or ip.is_reserved or ip.is_link_local or ip.is_multicast or ip.is_unspecified
    return ip.is_global and not special


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally, or None for a name; ValueError for a malformed number.

    Every IPv4 form that ``inet_aton`` (and so the resolver) reads counts: ``2130706433``, ``0x7f.1``,
    ``0177.0.0.1``. A host whose last label is a number is an address or nothing (as in the WHATWG URL
    standard), never a name.
    """
    host = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if ":" in host:
        raise ValueError("not an IP address")
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if not _NUMERIC_LABEL.match(last):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError as e:
        raise ValueError("not an IPv4 address") from e


def _localhost_name(host: str) -> bool:
    name = host.strip().rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def is_loopback_host(host: str) -> bool:
    """Whether a URL host is the loopback interface: ``localhost`` or a literal loopback address."""
    if _localhost_name(host):
        return True
    try:
        address = literal_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address is not None and address.is_loopback


def host_allowed(host: str, *, allow_loopback: bool) -> bool:
    """Write-time check of a URL host: a literal address or ``localhost`` is classified; a name passes."""
    if _localhost_name(host):
        return allow_loopback
    try:
        address = literal_address(host)
    except ValueError:
        return False
    return address is None or address_allowed(address, allow_loopback=allow_loopback)


# --- the guard ---------------------------------------------------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the operating system's resolver), in its order."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Guard:
    """Resolves, checks and pins the destination of outbound connections.

    ``allow_loopback`` None reads ``ALLOW_HTTP_LOOPBACK`` at each connection; ``resolver`` replaces the
    system resolver (tests inject one to play a DNS server).
    """

    def __init__(self, *, allow_loopback: bool | None = None, resolver: Resolver | None = None) -> None:
        self.allow_loopback = allow_loopback
        self.resolver = resolver or system_resolver
        self._lock = threading.RLock()  # the session, once built, asks for the pool classes under it
        self._session: requests.Session | None = None
        self._pool_classes: dict[str, Any] | None = None

    def loopback_allowed(self) -> bool:
        if self.allow_loopback is not None:
            return self.allow_loopback
        from chalicelib.settings import get_settings

        return get_settings().allow_http_loopback

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``: resolved once, every one checked.

        One refused address refuses the host: a name that also points inside is not called at all.
        Resolution failures raise ``socket.gaierror``.
        """
        found = list(self.resolver(host, port))
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, "no address")
        allow_loopback = self.loopback_allowed()
        for address in found:
            try:
                allowed = address_allowed(address, allow_loopback=allow_loopback)
            except ValueError:
                allowed = False
            if not allowed:
                raise DestinationNotAllowed()
        return found

    def pool_manager(self, **kwargs: Any) -> urllib3.PoolManager:
        """A urllib3 PoolManager whose every connection goes through this guard (no proxy)."""
        from urllib3 import PoolManager

        manager = PoolManager(**kwargs)
        manager.pool_classes_by_scheme = self._classes()
        return manager

    def session(self) -> requests.Session:
        """The requests Session of this guard: built on first use, then reused with its pools."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._new_session()
        return self._session

    def _new_session(self) -> requests.Session:
        from http.cookiejar import DefaultCookiePolicy

        import requests
        from requests.adapters import HTTPAdapter
        from requests.cookies import RequestsCookieJar

        guard = self

        class GuardedAdapter(HTTPAdapter):
            def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kw: Any) -> None:
                self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
                self.poolmanager = guard.pool_manager(num_pools=connections, maxsize=maxsize, block=block, **kw)

            def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
                raise DestinationNotAllowed()  # trust_env is off: no proxy is ever configured

        session = requests.Session()
        session.trust_env = False  # no proxies, no .netrc credentials from the environment
        session.max_redirects = MAX_REDIRECTS
        # One session serves every tenant: it must never keep a cookie from one call for the next.
        session.cookies = RequestsCookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        adapter = GuardedAdapter(pool_connections=16, pool_maxsize=16)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _classes(self) -> dict[str, Any]:
        with self._lock:
            if self._pool_classes is None:
                self._pool_classes = _pool_classes(self)
            return self._pool_classes


def _open_socket(guard: Guard, conn: urllib3.connection.HTTPConnection) -> socket.socket:
    """What urllib3's ``HTTPConnection._new_conn`` does, to a checked address only.

    The host keeps naming the request (Host header, TLS SNI and certificate check); only the socket
    goes to the address the guard resolved and checked.
    """
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
    from urllib3.util.connection import create_connection

    try:
        addresses = guard.addresses(conn._dns_host, conn.port or 0)
    except socket.gaierror as e:
        raise NameResolutionError(conn.host, conn, e) from e
    failure: OSError | None = None
    for address in addresses:
        try:
            return create_connection(
                (address, conn.port or 0),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as e:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from e
        except OSError as e:
            failure = e
    raise NewConnectionError(conn, "Failed to establish a new connection.") from failure


def _check_peer(guard: Guard, conn: urllib3.connection.HTTPConnection) -> None:
    """Refuse a kept-alive connection whose peer is no longer allowed (one system call per request).

    A connection was checked when it opened; checking its peer again on reuse means a setting changed
    since cannot leave an open connection behind it.
    """
    sock = conn.sock
    if sock is None:
        return
    try:
        peer = str(sock.getpeername()[0])
    except OSError:
        return  # a dead socket fails on its own when used
    if not address_allowed(peer, allow_loopback=guard.loopback_allowed()):
        raise DestinationNotAllowed()


def _pool_classes(guard: Guard) -> dict[str, Any]:
    """urllib3 connection pools whose connections open their socket to a checked address only."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _open_socket(guard, self)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _check_peer(guard, self)
            super().request(*args, **kwargs)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _open_socket(guard, self)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _check_peer(guard, self)
            super().request(*args, **kwargs)

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


_default = Guard()


def default_guard() -> Guard:
    """The process-wide guard (loopback as the settings say, the system resolver)."""
    return _default


def session() -> requests.Session:
    """The guarded requests Session every outbound call uses."""
    return _default.session()


def pool_manager(**kwargs: Any) -> urllib3.PoolManager:
    """A guarded urllib3 PoolManager (for dulwich's HTTP client)."""
    return _default.pool_manager(**kwargs)


def timeout() -> float:
    """The timeout of one outbound call: ``OUTBOUND_TIMEOUT_SECONDS``, or less when the request has less left.

    Raises :class:`chalicelib.deadline.DeadlineExceeded` (503) when the request has no usable time left, so a
    call is never started that API Gateway would cut off with its own 504.
    """
    from chalicelib import deadline
    from chalicelib.settings import get_settings

    return deadline.timeout(get_settings().outbound_timeout_seconds)
