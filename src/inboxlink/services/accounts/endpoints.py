"""The mail servers a connect request names: checked field by field, POP3 explained, plain text only
to loopback, and — where the installation faces the Internet — never an address on this machine
or its private network (the connect form must not be a way to reach internal services)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, replace
from typing import Any

from inboxlink.domain.network import REASONS, blocked_reason, is_loopback_host
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime

POP3_PORTS = {110, 995}
SECURITIES = {"tls", "starttls", "none"}

POP3_MESSAGE = (
    "POP3 is not supported. POP3 downloads mail and usually deletes it from the server, so the CRM "
    "could never see the replies to what you send. Switch your mail client (and this form) to IMAP: "
    "your provider lists its IMAP server next to the POP3 one (usually port 993 with SSL/TLS)."
)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    security: str
    # The IP address that was resolved and checked, to connect to instead of looking the name up
    # again (DNS rebinding); None where private hosts are allowed and the name is used as is.
    address: str | None = None


def pop3_error(field: str) -> ServiceError:
    return ServiceError("pop3_not_supported", POP3_MESSAGE, field=field)


def parse_endpoint(rt: Runtime, raw: Any, name: str) -> Endpoint:
    if not isinstance(raw, dict):
        raise ServiceError(
            "invalid_field", f"{name} must be an object with host, port and security.", field=name
        )
    host = raw.get("host")
    port = raw.get("port")
    security = raw.get("security", "tls")
    if not isinstance(host, str) or not host.strip() or any(c in host for c in " /\\\r\n@"):
        raise ServiceError(
            "invalid_field",
            f"{name}.host must be a server name such as imap.example.com.",
            field=f"{name}.host",
        )
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ServiceError(
            "invalid_field", f"{name}.port must be a port number (1-65535).", field=f"{name}.port"
        )
    if security not in SECURITIES:
        raise ServiceError(
            "invalid_field", f"{name}.security must be tls, starttls or none.", field=f"{name}.security"
        )
    host = host.strip()
    if security == "none" and not is_loopback_host(host) and not rt.settings.allow_insecure:
        raise ServiceError(
            "insecure_connection",
            f"{name}: an unencrypted connection to {host} would send your password in clear text. "
            "Use tls or starttls (an administrator can allow plain connections with INBOXLINK_ALLOW_INSECURE).",
            field=f"{name}.security",
        )
    return Endpoint(host, port, security)


def check_not_pop3(endpoint: Endpoint) -> None:
    if endpoint.port in POP3_PORTS:
        raise pop3_error("imap.port")
    first_label = endpoint.host.lower().split(".", 1)[0]
    if first_label in {"pop", "pop3", "pop-mail"}:
        raise pop3_error("imap.host")


async def pin_public_address(rt: Runtime, endpoint: Endpoint, name: str) -> Endpoint:
    """Where private hosts are refused: resolve the name, refuse it when *any* address it resolves
    to is not public (an attacker's DNS can mix one private address into a public answer), and
    return the endpoint pinned to the first address, which the connection then uses."""
    if rt.settings.allow_private_hosts:
        return endpoint
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            endpoint.host, endpoint.port, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise ServiceError(
            "connection_failed",
            f"The server name {endpoint.host} could not be found. Check it for typos.",
            field=f"{name}.host",
        ) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        reason = blocked_reason(address)
        if reason is not None:
            raise ServiceError(
                "private_address_refused",
                f"{name}: {endpoint.host} points to {REASONS[reason]}. This installation connects only to mail "
                "servers on the public Internet (an administrator can allow private networks with "
                "INBOXLINK_ALLOW_PRIVATE_HOSTS).",
                field=f"{name}.host",
            )
    if not addresses:
        raise ServiceError(
            "connection_failed", f"The server name {endpoint.host} has no address.", field=f"{name}.host"
        )
    return replace(endpoint, address=addresses[0])
