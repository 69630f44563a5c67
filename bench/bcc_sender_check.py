"""What the BCC listener's sender checks cost (issue 9, finding 3).

    .venv/bin/python bench/bcc_sender_check.py [--mb 5] [--signed-mb 20]

Runs inboxlink in-process with its BCC listener (`INBOXLINK_BCC_VERIFY=on`) and a dnsmasq on loopback
holding a DKIM key made here and `v=spf1 ip4:127.0.0.1 -all`, then over real SMTP:

1. a `--mb` MB message with 2,000 attachment parts from a stranger: the time to its 550 (the From is
   read on the header block; before, the whole message was parsed first), and in the same run the
   full `parse_message` of that message — what the refusal used to wait for;
2. a `--signed-mb` MB message of the user's, DKIM-signed: the time to its 250 and, alone, the DKIM
   verification (body canonicalisation + hash, on the verification thread pool).

Targets: refusal ≤ 0.5 s; DKIM check of a 20 MB message ≤ 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inboxlink.bcc import BccListener
from inboxlink.mime.parse import parse_message
from inboxlink.services.mail import sender_auth
from tests.integration.test_bcc import message, wire
from tests.integration.test_bcc_senders import USER, Signer, _key
from tests.peers.dns import running_dns
from tests.support.app import running_app

REFUSAL_TARGET = 0.5
DKIM_TARGET = 2.0


def _smtp(port: int, mail_from: str, rcpt: str, raw: bytes) -> tuple[int, float]:
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
        client.ehlo()
        client.mail(mail_from)
        client.rcpt(rcpt)
        start = time.perf_counter()
        code, _text = client.data(raw)
        return code, time.perf_counter() - start


def _foreign(mb: int) -> bytes:
    big = message("Mallory <mallory@evil.test>", "client@prospect.test", "Big", "x")
    part = mb * 1024 * 1024 // 2000
    for n in range(2000):
        big.add_attachment(b"y" * part, maintype="application", subtype="octet-stream", filename=f"{n}.bin")
    return wire(big)


def _signed(signer: Signer, mb: int) -> bytes:
    line = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\n"
    body = line * (mb * 1024 * 1024 // len(line))
    return signer.sign(message(USER, "client@prospect.test", "Signed and big", body))


async def main(mb: int, signed_mb: int) -> None:
    pem, txt = _key()
    signer = Signer(b"example.test", pem)
    with tempfile.TemporaryDirectory() as tmp, running_dns(
        Path(tmp) / "dns", ["example.test", "evil.test"],
        {"selector._domainkey.example.test": txt, "example.test": "v=spf1 ip4:127.0.0.1 -all"},
    ) as dns:  # fmt: skip
        env = {"INBOXLINK_BCC_VERIFY": "on", "INBOXLINK_DNS_SERVERS": dns.address}
        env["INBOXLINK_MAX_SEND_BYTES"] = str((max(mb, signed_mb) + 10) * 1024 * 1024)
        async with running_app(Path(tmp) / "data", worker=False, **env) as app:
            user = await app.user(USER)
            address = f"{user.caller.bcc_token}@bcc.localhost"
            listener = BccListener(app.rt, ("127.0.0.1", 0))
            await listener.start()
            try:
                raw = _foreign(mb)
                code, refusal = await asyncio.to_thread(
                    _smtp, listener.port, "mallory@evil.test", address, raw
                )
                assert code == 550, code
                start = time.perf_counter()
                parse_message(raw)
                parse = time.perf_counter() - start

                signed = _signed(signer, signed_mb)
                code, accepted = await asyncio.to_thread(
                    _smtp, listener.port, "bounce@evil.test", address, signed
                )
                assert code == 250, code
                start = time.perf_counter()
                origin = sender_auth.SmtpOrigin(
                    "bounce@evil.test", "127.0.0.1", "bench", sender_auth.Scope(True, True)
                )
                verdict = await sender_auth.verify_sender(app.rt, signed, USER, origin)
                check = time.perf_counter() - start
                assert verdict.verified, verdict
            finally:
                listener.stop()
    print(
        f"{len(raw) / 1e6:.1f} MB from a stranger, 2,000 parts: 550 after {refusal:.3f} s "
        f"(target {REFUSAL_TARGET} s: {refusal / REFUSAL_TARGET:.2f}x); "
        f"the full parse that used to come first: {parse:.2f} s ({parse / refusal:.0f}x the refusal)"
    )
    print(f"{len(signed) / 1e6:.1f} MB DKIM-signed by the user's domain: 250 after {accepted:.2f} s; "
          f"DKIM+SPF check alone {check:.2f} s (target {DKIM_TARGET} s: {check / DKIM_TARGET:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=5)
    parser.add_argument("--signed-mb", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.mb, args.signed_mb))
