"""The outbound guard: which addresses Keyport calls, and connections pinned to the address checked.

Connections go to real local servers (tests/support/http_peer.py); a resolver is injected where a test
plays a DNS server (names that point inside, that change between two lookups, or that a certificate
names).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from chalicelib import outbound
from chalicelib.outbound import DestinationNotAllowed, Guard
from tests.support.http_peer import HttpPeer

REFUSED = [
    "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "192.168.0.1", "192.168.255.1",
    "169.254.169.254", "169.254.0.1", "0.0.0.0", "0.1.2.3", "100.64.0.1", "100.127.255.254",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.0.8", "192.0.2.1", "198.18.0.1",
    "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1", "::",
    "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:192.168.1.1", "::ffff:0.0.0.0",
    "::10.0.0.1", "::ffff:0:a00:1", "2002:a00:1::", "2002:a9fe:a9fe::1", "64:ff9b::a9fe:a9fe",
    "64:ff9b::10.0.0.1", "64:ff9b:1::1", "2001:db8::1", "2001::1", "100::1",
]  # fmt: skip
LOOPBACK = ["127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "::ffff:127.0.0.1"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::1", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_link_local_shared_multicast_and_reserved_addresses_are_refused(address: str) -> None:
    assert not outbound.address_allowed(address, allow_loopback=False)
    assert not outbound.address_allowed(address, allow_loopback=True)


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_is_allowed_only_where_the_settings_allow_it(address: str) -> None:
    assert not outbound.address_allowed(address, allow_loopback=False)
    assert outbound.address_allowed(address, allow_loopback=True)


@pytest.mark.parametrize("address", ["2002:7f00:1::", "64:ff9b::7f00:1", "::127.0.0.1"])
def test_loopback_embedded_in_a_routed_ipv6_form_is_not_loopback(address: str) -> None:
    # 6to4, NAT64 and IPv4-compatible addresses go to a relay, not to this host: never allowed.
    assert not outbound.address_allowed(address, allow_loopback=True)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert outbound.address_allowed(address, allow_loopback=False)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("017700000001", "127.0.0.1"),
        ("167772161", "10.0.0.1"), ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"), ("[::ffff:7f00:1]", "::ffff:7f00:1"),
    ],
)  # fmt: skip
def test_every_numeric_form_of_an_address_is_read_as_that_address(host: str, address: str) -> None:
    assert outbound.literal_address(host) == ipaddress.ip_address(address)
    assert not outbound.host_allowed(host, allow_loopback=False)


@pytest.mark.parametrize("host", ["1.2.3.999", "x.1", "0x1g.1", "[::ffff:zz]"])
def test_a_host_that_ends_in_a_number_but_is_no_address_is_refused(host: str) -> None:
    with pytest.raises(ValueError):
        outbound.literal_address(host)
    assert not outbound.host_allowed(host, allow_loopback=True)


def test_localhost_names_are_loopback_and_other_names_wait_for_resolution() -> None:
    for host in ("localhost", "LOCALHOST.", "api.localhost"):
        assert outbound.is_loopback_host(host)
        assert not outbound.host_allowed(host, allow_loopback=False)
        assert outbound.host_allowed(host, allow_loopback=True)
    assert outbound.host_allowed("api.example.com", allow_loopback=False)
    assert not outbound.is_loopback_host("localhost.example.com")


# --- connections -------------------------------------------------------------------------------------


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    with HttpPeer() as running:
        yield running


def resolver(table: dict[str, list[str]]) -> outbound.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        return table[host] if host in table else outbound.system_resolver(host, port)

    return resolve


def test_the_guard_reaches_an_allowed_address_and_sends_the_url_host(peer: HttpPeer) -> None:
    guard = Guard(allow_loopback=True, resolver=resolver({"api.partner.test": ["127.0.0.1"]}))
    answer = guard.session().get(f"http://api.partner.test:{peer.port}/v1/x", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["host"] == f"api.partner.test:{peer.port}"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "localhost", "[::ffff:127.0.0.1]"]
)
def test_loopback_in_any_spelling_is_refused_before_connecting(peer: HttpPeer, host: str) -> None:
    guard = Guard(allow_loopback=False)
    with pytest.raises(DestinationNotAllowed) as refused:
        guard.session().get(f"http://{host}:{peer.port}/secret", timeout=5)
    assert refused.value.message == "The destination of this request is not allowed."
    assert refused.value.status == 403
    assert peer.requests == []


def test_a_name_that_resolves_inside_is_refused_and_the_error_names_nothing() -> None:
    guard = Guard(allow_loopback=True, resolver=resolver({"metadata.test": ["169.254.169.254"]}))
    with pytest.raises(DestinationNotAllowed) as refused:
        guard.session().get("http://metadata.test/latest/meta-data/", timeout=5)
    assert "169.254" not in str(refused.value) and "metadata.test" not in str(refused.value)


def test_a_name_with_one_inside_address_among_public_ones_is_refused() -> None:
    guard = Guard(allow_loopback=False, resolver=resolver({"mixed.test": ["93.184.216.34", "10.0.0.1"]}))
    with pytest.raises(DestinationNotAllowed):
        guard.session().get("http://mixed.test/", timeout=5)


def test_a_redirect_from_an_allowed_server_to_a_refused_address_is_refused(peer: HttpPeer) -> None:
    guard = Guard(allow_loopback=True, resolver=resolver({"internal.test": ["10.1.2.3"]}))
    session = guard.session()
    for target in ("http://169.254.169.254/latest/meta-data/", "http://internal.test/admin", "http://[::ffff:a00:1]/"):
        peer.redirect_to = target
        with pytest.raises(DestinationNotAllowed):
            session.get(f"{peer.url}/redirect", timeout=5, allow_redirects=True)
    peer.redirect_to = f"{peer.url}/landed"  # the control: an allowed target is followed
    assert session.get(f"{peer.url}/redirect", timeout=5).json()["path"] == "/landed"


def test_a_redirect_followed_by_the_urllib3_pool_manager_is_checked_too(peer: HttpPeer) -> None:
    manager = Guard(allow_loopback=True).pool_manager(timeout=5)
    peer.redirect_to = "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(DestinationNotAllowed):
        manager.request("GET", f"{peer.url}/redirect")
    peer.redirect_to = f"{peer.url}/landed"
    assert manager.request("GET", f"{peer.url}/redirect").status == 200


def test_the_connection_goes_to_the_address_checked_even_when_the_name_changes(peer: HttpPeer) -> None:
    # DNS rebinding: the first answer is allowed, every later one points inside. A guard that checked
    # one answer and let the socket resolve again would connect inside (or fail); this one connects to
    # the address it checked, and resolves once per connection.
    answers = iter([["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers, ["10.0.0.1"])

    guard = Guard(allow_loopback=True, resolver=rebinding)
    answer = guard.session().get(f"http://rebind.test:{peer.port}/first", timeout=5)
    assert answer.status_code == 200 and answer.json()["host"] == f"rebind.test:{peer.port}"
    assert lookups == ["rebind.test"]
    assert [seen.path for seen in peer.requests] == ["/first"]
    # A new connection resolves again, and now the name points inside: refused.
    with pytest.raises(DestinationNotAllowed):
        Guard(allow_loopback=True, resolver=rebinding).session().get(f"http://rebind.test:{peer.port}/", timeout=5)


def test_the_shared_session_never_carries_a_cookie_from_one_call_to_the_next(peer: HttpPeer) -> None:
    session = Guard(allow_loopback=True).session()
    session.get(f"{peer.url}/set-cookie", timeout=5)
    assert session.get(f"{peer.url}/next", timeout=5).json()["cookie"] is None


def test_the_default_session_is_built_once_and_reused() -> None:
    assert outbound.session() is outbound.session()
    assert outbound.session().trust_env is False


def test_importing_the_guard_does_not_import_requests_or_urllib3() -> None:
    code = (
        "import sys, chalicelib.outbound, chalicelib.catalog; print(sorted({'requests', 'urllib3'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd())
    assert out.stdout.strip() == "[]"


# --- TLS: the certificate is checked for the URL's name, while the socket goes to the checked address ---


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``pinned.test``: its file and its key's file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinned.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("pinned.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def test_tls_verifies_the_certificate_for_the_url_name_over_the_pinned_address(certificate: tuple[str, str]) -> None:
    names = {"pinned.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}
    with HttpPeer(tls=certificate) as peer:
        session = Guard(allow_loopback=True, resolver=resolver(names)).session()
        answer = session.get(f"https://pinned.test:{peer.port}/tls", timeout=5, verify=certificate[0])
        assert answer.json() == {"method": "GET", "path": "/tls", "host": f"pinned.test:{peer.port}", "cookie": None}
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://other.test:{peer.port}/tls", timeout=5, verify=certificate[0])


def test_a_kept_alive_connection_is_refused_once_its_peer_is_no_longer_allowed(peer: HttpPeer) -> None:
    guard = Guard(allow_loopback=True)
    session = guard.session()
    assert session.get(f"{peer.url}/one", timeout=5).status_code == 200
    guard.allow_loopback = False  # the pooled connection to 127.0.0.1 is still open

    with pytest.raises(DestinationNotAllowed):
        session.get(f"{peer.url}/two", timeout=5)
    assert [seen.path for seen in peer.requests] == ["/one"]


def test_no_code_calls_out_without_the_guard() -> None:
    # Every outbound HTTP call goes through chalicelib.outbound; a new one that does not fails here.
    direct = re.compile(
        r"requests\.(?:get|post|put|patch|delete|head|request|Session)\(|urllib3\.PoolManager\(|PoolManager\(|"
        r"default_urllib3_manager\(|urlopen\(|http\.client\.HTTPS?Connection\(|socket\.create_connection\("
    )
    root = Path(__file__).resolve().parents[2]
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in [root / "app.py", *sorted((root / "chalicelib").rglob("*.py"))]
        if path.name != "outbound.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert offenders == []
