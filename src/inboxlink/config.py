"""Configuration: environment variables, else the same names lower-case in `$DATA_DIR/inboxlink.toml`,
else defaults. The variable always wins (see the contract in docs/api.md)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from inboxlink.domain.network import is_loopback_host
from inboxlink.domain.providers import OAUTH_PROVIDERS, security_for_port

PREFIX = "INBOXLINK_"


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


def _host_port(name: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"{PREFIX}{name} must look like host:port, got {value!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    http_host: str
    http_port: int
    bcc_smtp: tuple[str, int] | None
    bcc_domain: str
    secret_key: str | None
    # Plain-text IMAP/SMTP ("security": "none") is allowed only to loopback hosts unless this is set.
    allow_insecure: bool
    max_send_bytes: int
    max_attachment_bytes: int
    poll_interval: float
    idle_restart: float
    disconnect_after: float
    send_retry_limit: int
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated IPs); none by default, so a
    # client cannot pick the address the sign-in throttle sees.
    trusted_proxies: str
    # Seconds a worker may spend parsing one message from outside before it is stopped and the
    # message is logged with its headers and the original attached.
    parse_timeout: float = 20.0
    # Where users reach the web UI (also the OAuth redirect base).
    public_url: str = "http://127.0.0.1:8025"
    # IMAP/SMTP hosts on loopback/private/link-local addresses may be connected to; by default only
    # when the installation itself is reached on loopback (a laptop, the test suite).
    allow_private_hosts: bool = True
    # Seconds to wait for the address check's test message to arrive (an address ≠ the login).
    address_check_timeout: float = 30.0
    # BCC listener: check DKIM/SPF of the mail it receives ("auto": when not bound to loopback).
    bcc_verify: str = "auto"
    # DNS servers for those checks, ((host, port), ...); empty → the system's resolver.
    dns_servers: tuple[tuple[str, int], ...] = ()
    # The configured OAuth providers ("google", "microsoft"): only these get buttons and routes.
    oauth: dict[str, OAuthClient] = field(default_factory=dict)
    # Webhooks (docs/webhooks.md): http and loopback/private/link-local targets only when set.
    webhook_allow_private: bool = False
    # First retry delay of a failed webhook delivery (seconds; grows, jittered) and how long
    # retries go on before the delivery is `failed`.
    webhook_retry_base: float = 20.0
    webhook_retry_window: float = 24 * 3600.0
    # Events (the feed, the webhooks' source) are pruned after this many days.
    events_retention_days: float = 30.0
    # Durable jobs: seconds between polls when idle, and how long a claim lasts before another
    # worker may take the job over (a worker killed mid-job).
    jobs_poll: float = 1.0
    jobs_lease: float = 60.0
    # Seconds a worker's inbox leases outlive its last heartbeat (failover time after a crash).
    lease_ttl: float = 30.0
    # Bearer token for GET /metrics; without it /metrics answers loopback clients only.
    metrics_token: str | None = None
    # host:port of `inboxlink worker`'s own GET /metrics listener (serve has it on INBOXLINK_HTTP); None: off.
    metrics_http: tuple[str, int] | None = None
    # Where attachment bytes go: "database" (blob_chunks; every host reads them) or "files" (the
    # data directory). Default: database on PostgreSQL, files on SQLite.
    blob_store: str = "files"

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _dns_servers(value: str) -> tuple[tuple[str, int], ...]:
    servers = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item.count(":") > 1 and not item.startswith("["):
            item = f"[{item}]"  # a bare IPv6 address
        if item.endswith("]") or ":" not in item:
            item += ":53"  # no port given: DNS's own
        servers.append(_host_port("DNS_SERVERS", item))
    return tuple(servers)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value.strip().lower() not in allowed:
        raise ConfigError(f"{PREFIX}{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value.strip().lower()


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    data_dir = Path(env.get(PREFIX + "DATA_DIR", "./inboxlink-data")).resolve()
    file_values: dict[str, object] = {}
    toml_path = data_dir / "inboxlink.toml"
    if toml_path.is_file():
        try:
            file_values = tomllib.loads(toml_path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path} is not valid TOML: {exc}") from exc

    def get(name: str, default: str) -> str:
        if PREFIX + name in env:
            return env[PREFIX + name]
        value = file_values.get(name.lower())
        return default if value is None else str(value)

    def number(name: str, default: str) -> float:
        raw = get(name, default)
        try:
            return float(raw)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}{name} must be a number, got {raw!r}") from exc

    parse_timeout = number("PARSE_TIMEOUT", "20")
    if not parse_timeout > 0:
        raise ConfigError(f"{PREFIX}PARSE_TIMEOUT must be a number of seconds above 0, got {parse_timeout!r}")
    http_host, http_port = _host_port("HTTP", get("HTTP", "127.0.0.1:8025"))
    public_url = get("PUBLIC_URL", "http://127.0.0.1:8025").strip().rstrip("/")
    public_host = urlsplit(public_url).hostname
    if urlsplit(public_url).scheme not in {"http", "https"} or not public_host:
        raise ConfigError(f"{PREFIX}PUBLIC_URL must be an http(s) URL such as https://crm.example.com")
    bcc_raw = get("BCC_SMTP", "127.0.0.1:2525")
    bcc = None if bcc_raw.strip().lower() == "off" else _host_port("BCC_SMTP", bcc_raw)
    database_url = get("DATABASE_URL", f"sqlite:///{data_dir / 'inboxlink.db'}")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        http_host=http_host,
        http_port=http_port,
        bcc_smtp=bcc,
        bcc_domain=get("BCC_DOMAIN", "bcc.localhost"),
        secret_key=get("SECRET_KEY", "") or None,
        allow_insecure=_flag(get("ALLOW_INSECURE", "false")),
        max_send_bytes=int(number("MAX_SEND_BYTES", str(25 * 1024 * 1024))),
        max_attachment_bytes=int(number("MAX_ATTACHMENT_BYTES", str(25 * 1024 * 1024))),
        poll_interval=number("POLL_INTERVAL", "30"),
        idle_restart=number("IDLE_RESTART", str(25 * 60)),
        disconnect_after=number("DISCONNECT_AFTER", str(30 * 60)),
        send_retry_limit=int(number("SEND_RETRY_LIMIT", "5")),
        trusted_proxies=get("TRUSTED_PROXIES", "").strip(),
        parse_timeout=parse_timeout,
        public_url=public_url,
        allow_private_hosts=_flag(get("ALLOW_PRIVATE_HOSTS", str(is_loopback_host(public_host)))),
        address_check_timeout=number("ADDRESS_CHECK_TIMEOUT", "30"),
        bcc_verify=_choice("BCC_VERIFY", get("BCC_VERIFY", "auto"), ("auto", "on", "off")),
        dns_servers=_dns_servers(get("DNS_SERVERS", "")),
        oauth=load_oauth_clients(get),
        webhook_allow_private=_flag(get("WEBHOOK_ALLOW_PRIVATE", "false")),
        webhook_retry_base=number("WEBHOOK_RETRY_BASE", "20"),
        webhook_retry_window=number("WEBHOOK_RETRY_WINDOW", str(24 * 3600)),
        events_retention_days=number("EVENTS_RETENTION_DAYS", "30"),
        jobs_poll=number("JOBS_POLL", "1"),
        jobs_lease=number("JOBS_LEASE", "60"),
        lease_ttl=_positive("LEASE_TTL", number("LEASE_TTL", "30")),
        metrics_token=get("METRICS_TOKEN", "").strip() or None,
        metrics_http=_host_port("METRICS_HTTP", raw) if (raw := get("METRICS_HTTP", "").strip()) else None,
        blob_store=_choice(
            "BLOB_STORE",
            get("BLOB_STORE", "files" if database_url.startswith("sqlite") else "database"),
            ("database", "files"),
        ),
    )


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ConfigError(f"{PREFIX}{name} must be a number of seconds above 0, got {value!r}")
    return value


# ---- OAuth2 providers (docs/api.md, "OAuth2 mailboxes") ----


@dataclass(frozen=True)
class OAuthClient:
    """One configured provider: our OAuth client there, its endpoints and the mail servers its
    tokens open (defaults from domain.providers, each overridable)."""

    provider: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    imap: tuple[str, int, str]  # host, port, security
    smtp: tuple[str, int, str]


def _endpoint_url(name: str, value: str) -> str:
    """https only, except loopback (a test's or a local proxy's plain http)."""
    parts = urlsplit(value)
    loopback = parts.hostname in {"127.0.0.1", "::1", "localhost"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigError(
            f"{PREFIX}{name} must be an https:// URL (plain http only to loopback), got {value!r}"
        )
    return value


def load_oauth_clients(get: Callable[[str, str], str]) -> dict[str, OAuthClient]:
    clients = {}
    for key, provider in OAUTH_PROVIDERS.items():
        p = key.upper()
        client_id = get(f"OAUTH_{p}_CLIENT_ID", "").strip()
        if not client_id:
            continue  # not configured: no button, no API
        secret = get(f"OAUTH_{p}_CLIENT_SECRET", "").strip()
        if not secret:
            raise ConfigError(f"{PREFIX}OAUTH_{p}_CLIENT_SECRET must be set with {PREFIX}OAUTH_{p}_CLIENT_ID")
        tenant = get("OAUTH_MICROSOFT_TENANT", "common").strip() or "common"
        servers = {}
        for side, default in (("IMAP", provider.imap), ("SMTP", provider.smtp)):
            host, port = _host_port(
                f"OAUTH_{p}_{side}", get(f"OAUTH_{p}_{side}", f"{default[0]}:{default[1]}")
            )
            servers[side] = (host, port, security_for_port(port))
        clients[key] = OAuthClient(
            provider=key,
            client_id=client_id,
            client_secret=secret,
            authorize_url=_endpoint_url(
                f"OAUTH_{p}_AUTHORIZE_URL",
                get(f"OAUTH_{p}_AUTHORIZE_URL", provider.authorize_url.replace("{tenant}", tenant)),
            ),
            token_url=_endpoint_url(
                f"OAUTH_{p}_TOKEN_URL",
                get(f"OAUTH_{p}_TOKEN_URL", provider.token_url.replace("{tenant}", tenant)),
            ),
            imap=servers["IMAP"],
            smtp=servers["SMTP"],
        )
    return clients
