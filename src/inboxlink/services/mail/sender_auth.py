"""DKIM and SPF checks of mail received by the BCC listener (dkimpy, pyspf, dnspython), the verdict
left to `domain.sender_auth`.

* Where: `INBOXLINK_BCC_VERIFY` — `on`, `off`, or `auto` (the default): check when the listener is not
  bound to loopback, i.e. when it receives mail straight from the senders' servers. Behind a local MTA
  the peer is that MTA (SPF would judge its IP) and the MTA is the place that checks DMARC.
* Attached originals in forwards are judged by their own DKIM signature whenever verification is not
  `off`: no MTA in front looks inside a forward.
* DNS: `INBOXLINK_DNS_SERVERS` (else the system's resolver). Lookups block, so a check runs on a small
  thread pool of its own, each lookup bounded by `LOOKUP_SECONDS`, the whole check by `CHECK_SECONDS`;
  an unanswered check counts as "not verified", never as an error.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dkim
import dkim.util
import dns.exception
import dns.nameserver
import dns.resolver
import spf

from inboxlink.domain.sender_auth import (
    NOT_CHECKED,
    DkimResult,
    SpfResult,
    Verdict,
    aligned,
    judge,
    judge_forwarded,
)
from inboxlink.services.platform.runtime import Runtime

__all__ = ["Scope", "SmtpOrigin", "verification_scope", "verify_original", "verify_sender"]

log = logging.getLogger(__name__)

LOOKUP_SECONDS = 5.0
CHECK_SECONDS = 30.0  # a whole check; the SMTP client waits this long at most for its answer
_SPF_SECONDS = 10  # all of SPF's lookups together (RFC 7208 §4.6.4 suggests at least 20 s in total)
_MAX_SIGNATURES = 5  # DKIM signatures looked at per message; more is an attack on our DNS budget


@dataclass(frozen=True)
class Scope:
    """What gets checked: the message itself (its SMTP hop) and/or originals attached to forwards."""

    sender: bool
    originals: bool


def verification_scope(mode: str, bind_host: str) -> Scope:
    if mode == "off":
        return Scope(sender=False, originals=False)
    if mode == "on":
        return Scope(sender=True, originals=True)
    return Scope(sender=not _is_loopback(bind_host), originals=True)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


@dataclass(frozen=True)
class SmtpOrigin:
    """The SMTP hop a message came in on."""

    envelope_from: str
    ip: str
    helo: str
    scope: Scope


async def verify_sender(rt: Runtime, raw: bytes, from_address: str, origin: SmtpOrigin) -> Verdict:
    """DKIM (aligned with the From domain) or SPF (aligned envelope sender, connecting IP)."""
    if not origin.scope.sender:
        return NOT_CHECKED
    from_domain = from_address.rpartition("@")[2]
    return await _in_pool(rt, _check_sender, raw, from_domain, origin)


async def verify_original(
    rt: Runtime, raw: bytes, from_address: str, origin: SmtpOrigin, seconds: float = CHECK_SECONDS
) -> Verdict:
    """An original attached to a forward, by its own DKIM signature; `seconds`: what is left of the
    forward's budget (one forward may carry many originals)."""
    if not origin.scope.originals:
        return NOT_CHECKED
    if seconds <= 0:
        return Verdict(False, "forwarded original: not checked, the forward's time for checks was used up")
    from_domain = from_address.rpartition("@")[2]
    return await _in_pool(rt, _check_original, raw, from_domain, seconds=seconds)


async def _in_pool(rt: Runtime, check: Any, *args: Any, seconds: float = CHECK_SECONDS) -> Verdict:
    resolver = _resolver(rt.settings.dns_servers)
    context = contextvars.copy_context()
    task = asyncio.get_running_loop().run_in_executor(
        rt.checks, context.run, _with_resolver, resolver, check, args
    )
    try:
        return await asyncio.wait_for(task, seconds)
    except TimeoutError:
        return Verdict(False, f"DKIM/SPF check took longer than {seconds:.0f} s")
    except Exception as exc:  # a library fault on hostile input is "not verified", not a lost message
        log.warning("sender verification failed: %s: %s", type(exc).__name__, exc)
        return Verdict(False, f"DKIM/SPF check failed ({type(exc).__name__})")


def _with_resolver(resolver: dns.resolver.Resolver, check: Any, args: Sequence[Any]) -> Verdict:
    _active.set(resolver)
    result: Verdict = check(*args)
    return result


def _check_sender(raw: bytes, from_domain: str, origin: SmtpOrigin) -> Verdict:
    # SPF first: a few DNS answers, where DKIM canonicalises and hashes the whole body (~1 s for 20 MB,
    # holding the GIL in re.sub); an aligned SPF pass settles it.
    spf_result = _spf(origin)
    if spf_result.result == "pass" and aligned(spf_result.domain, from_domain):
        return judge(from_domain, [], spf_result)
    return judge(from_domain, _dkim(raw, from_domain), spf_result)


def _check_original(raw: bytes, from_domain: str) -> Verdict:
    return judge_forwarded(from_domain, _dkim(raw, from_domain))


# ---- DNS ----


@functools.lru_cache(maxsize=8)
def _resolver(servers: tuple[tuple[str, int], ...]) -> dns.resolver.Resolver:
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
    else:
        try:
            resolver = dns.resolver.Resolver()  # /etc/resolv.conf
        except dns.resolver.NoResolverConfiguration:
            resolver = dns.resolver.Resolver(configure=False)  # no servers: every lookup fails
    resolver.lifetime = LOOKUP_SECONDS
    return resolver


_active: contextvars.ContextVar[dns.resolver.Resolver] = contextvars.ContextVar("inboxlink_dns")


def _answers(name: str, qtype: str, timeout: float) -> list[Any]:
    try:
        answer = _active.get().resolve(name, qtype, lifetime=min(timeout, LOOKUP_SECONDS), search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return list(answer)


def _dkim_txt(name: bytes, timeout: float = LOOKUP_SECONDS) -> bytes | None:
    """dkimpy's `dnsfunc`: the key record's strings, joined."""
    try:
        records = _answers(name.decode("ascii"), "TXT", timeout)
    except UnicodeDecodeError:
        return None
    except (dns.exception.DNSException, OSError) as exc:
        raise dkim.DnsTimeoutError(str(exc)) from exc
    return b"".join(records[0].strings) if records else None


def _spf_lookup(name: str, qtype: str, strict: object = True, timeout: float = LOOKUP_SECONDS) -> list[Any]:
    """Replaces pyspf's module-level `spf.DNSLookup` (it takes no resolver argument; at import it picks
    dnspython's global resolver, and calls the deprecated `dns.resolver.query`): the same answers
    as its own dnspython lookup, on the resolver of the check in progress."""
    try:
        records = _answers(name, qtype, timeout)
    except (dns.exception.DNSException, OSError) as exc:
        raise spf.TempError(f"DNS {exc}") from exc
    out: list[Any] = []
    for rdata in records:
        if qtype in ("A", "AAAA"):
            out.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            out.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            out.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            out.append(((name, qtype), rdata.strings))
    return out


spf.DNSLookup = _spf_lookup


# ---- the checks ----


def _dkim(raw: bytes, from_domain: str) -> list[DkimResult]:
    """Every signature's domain; only those aligned with the From domain are verified (others could
    not make the message verified, and each verification hashes the whole body again)."""
    try:
        message = dkim.DKIM(raw, timeout=LOOKUP_SECONDS, minkey=1024)
    except Exception as exc:
        return [DkimResult("", False, f"unreadable message: {type(exc).__name__}")]
    signatures = [value for name, value in message.headers if name.lower() == b"dkim-signature"]
    results = []
    for index, value in enumerate(signatures[:_MAX_SIGNATURES]):
        signer = _signer(value)
        if not aligned(signer, from_domain):
            results.append(DkimResult(signer, False, "not by the From domain"))
            continue
        message.domain, message.signature_fields, message.include_headers = None, {}, ()
        try:
            passed, note = bool(message.verify(idx=index, dnsfunc=_dkim_txt)), ""
        except dkim.DKIMException as exc:
            passed, note = False, str(exc)[:120]
        fields = message.signature_fields or {}
        domain = (message.domain or b"").decode("ascii", "replace").lower()
        if passed and b"l" in fields:
            # `l=` signs only the first bytes of the body: anything may follow them.
            passed, note = False, "it signs only part of the body (l=)"
        elif passed and b"from" not in message.include_headers:
            passed, note = False, "it does not sign From"
        elif not passed and not note:
            note = "bad signature or key"
        results.append(DkimResult(domain, passed, note))
    return results


def _signer(signature: bytes) -> str:
    try:
        domain = dkim.util.parse_tag_value(signature).get(b"d", b"")
    except Exception:  # unparsable: dkimpy's verify will say so
        return ""
    return bytes(domain).decode("ascii", "replace").strip().lower()


def _spf(origin: SmtpOrigin) -> SpfResult:
    sender = origin.envelope_from.strip().strip("<>")
    domain = sender.rpartition("@")[2] if sender else origin.helo
    if not origin.ip:
        return SpfResult("none", domain, "")
    try:
        result, _explanation = spf.check2(
            i=origin.ip, s=sender, h=origin.helo, timeout=LOOKUP_SECONDS, querytime=_SPF_SECONDS
        )
    except Exception as exc:  # pyspf raises on some malformed input instead of answering permerror
        log.info("SPF check raised %s", type(exc).__name__)
        result = "permerror"
    return SpfResult(str(result), domain.lower(), origin.ip)
