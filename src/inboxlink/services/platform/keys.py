"""The installation key: its fingerprint in the database (a process with another key refuses to
start), and rotation — everything encrypted (credentials, OAuth tokens, PKCE verifiers, queued mail,
mail bodies, attachment blobs, events, webhook secrets) re-encrypted under the first configured key
in batches, while the
other processes keep serving (MultiFernet: old keys still decrypt), resumable after a crash."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Column, Table, func, select
from sqlalchemy.exc import IntegrityError

from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.composer_tables import drafts, signatures
from inboxlink.storage.db_blobs import is_db_blob
from inboxlink.storage.platform_tables import events, webhooks
from inboxlink.storage.privacy_tables import key_fingerprints, key_rotation
from inboxlink.storage.tables import attachments, emails, inboxes, oauth_grants, oauth_states, outbox

SEALED = "fernet:"  # the prefix of sealed mail bodies (services.crm.timeline)


class KeyMismatch(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    name: str
    table: Table
    key: str
    column: str
    text: bool = False  # a sealed body ("fernet:" + token) rather than raw token bytes


TARGETS = (
    Target("inboxes.secret", inboxes, "id", "secret"),
    Target("oauth_grants.secret", oauth_grants, "inbox_id", "secret"),
    Target("oauth_states.verifier", oauth_states, "id", "verifier"),
    Target("outbox.payload", outbox, "id", "payload"),
    Target("emails.text", emails, "id", "text", text=True),
    Target("emails.html", emails, "id", "html", text=True),
    # Events carry the email or inbox object (bodies included); webhook secrets sign deliveries.
    Target("events.data", events, "id", "data"),
    Target("webhooks.secret", webhooks, "id", "secret"),
    Target("webhooks.previous_secret", webhooks, "id", "previous_secret"),
    # What a person writes (issue 14 item 6): sealed like mail bodies.
    Target("signatures.text", signatures, "user_id", "text", text=True),
    Target("drafts.body", drafts, "id", "body", text=True),
)
BLOBS = "attachments.blob"
# Data derived from the key rather than encrypted with it (the search index's keyed hashes):
# recomputed under the new key by a batch function (rt, after_id, batch) → (last id looked at, None
# when there is none; rows rewritten). Registered by the module that owns the data.
Rehash = Callable[[Runtime, int, int], Awaitable[tuple[int | None, int]]]
REHASHES: dict[str, Rehash] = {}


def register_rehash(name: str, step: Rehash) -> None:
    REHASHES[name] = step


CAUGHT_UP = "catch-up"  # marker row: the second pass has been scheduled
CATCH_UP_AFTER = 3.0  # seconds; > SecretBox.RECHECK plus a transaction in flight


async def _current(rt: Runtime) -> Any:
    async with rt.engine.connect() as conn:
        return (
            await conn.execute(
                select(key_fingerprints).order_by(key_fingerprints.c.generation.desc()).limit(1)
            )
        ).first()


async def check_key(rt: Runtime) -> None:
    """Record the key's fingerprint on first start; refuse (KeyMismatch) when the process's keys do
    not include the installation's current key."""
    mine = rt.box.fingerprints()
    current = await _current(rt)
    if current is None:
        try:
            async with rt.engine.begin() as conn:
                await conn.execute(
                    key_fingerprints.insert().values(generation=1, fingerprint=mine[0], created_at=now())
                )
            return
        except IntegrityError:
            current = await _current(rt)  # another process recorded its key first
    if current is not None and current.fingerprint not in mine and rt.box.generated:
        # No INBOXLINK_SECRET_KEY and no key file: this host made a key of its own just now, but the
        # installation has one. The new key file goes again (it would only be in the way).
        if rt.box.key_file is not None:
            rt.box.key_file.unlink(missing_ok=True)
        raise KeyMismatch(
            "this host has no INBOXLINK_SECRET_KEY and no $INBOXLINK_DATA_DIR/secret.key, and the "
            f"database already belongs to an installation with a key (fingerprint {current.fingerprint[:12]}): "
            "a key of its own could not decrypt the other hosts' credentials and attachments. Set "
            "INBOXLINK_SECRET_KEY to the installation's key as on the first host (the key the other hosts "
            "use: the contents of their $INBOXLINK_DATA_DIR/secret.key, or their INBOXLINK_SECRET_KEY), "
            "then start again."
        )
    if current is not None and current.fingerprint not in mine:
        raise KeyMismatch(
            f"this process's secret key (fingerprint {mine[0][:12]}) is not the installation's key "
            f"(fingerprint {current.fingerprint[:12]}): every process of one installation must use the "
            "same key. Set INBOXLINK_SECRET_KEY to the installation's key as on the first host (the "
            "contents of its $INBOXLINK_DATA_DIR/secret.key, or its INBOXLINK_SECRET_KEY), then start again."
        )


def _write_key_file(path: Any, keys: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(",".join(keys))
    os.replace(tmp, path)  # atomic: a reader sees the old list or the new one


async def begin_rotation(rt: Runtime) -> int | None:
    """The generation to re-encrypt under, registering the process's first key when it is new. With
    the key in $DATA_DIR/secret.key, a new key is generated and put first there. None: the key comes
    from INBOXLINK_SECRET_KEY and its first key is already the installation's (nothing to rotate to)."""
    current = await _current(rt)
    first = rt.box.fingerprints()[0]
    if current is not None and current.fingerprint == first:
        async with rt.engine.connect() as conn:
            unfinished = await conn.scalar(
                select(func.count()).select_from(key_rotation).where(key_rotation.c.done.is_(False))
            )
        if unfinished:
            return int(current.generation)  # resume an interrupted run
        if rt.box.key_file is None:
            return None
        keys = [Fernet.generate_key().decode(), *rt.box.keys]
        _write_key_file(rt.box.key_file, keys)
        rt.box.use_keys(keys)
        first = rt.box.fingerprints()[0]
    generation = (current.generation if current is not None else 0) + 1
    async with rt.engine.begin() as conn:
        await conn.execute(
            key_fingerprints.insert().values(generation=generation, fingerprint=first, created_at=now())
        )
        await conn.execute(key_rotation.delete())
        for name in [t.name for t in TARGETS] + [BLOBS] + list(REHASHES):
            await conn.execute(
                key_rotation.insert().values(
                    target=name, generation=generation, last_id=0, done=False, rows=0, updated_at=now()
                )
            )
    return generation


async def _progress(rt: Runtime, name: str) -> Any:
    async with rt.engine.connect() as conn:
        return (await conn.execute(select(key_rotation).where(key_rotation.c.target == name))).first()


async def _save(conn: Any, name: str, last_id: int, rows: int, done: bool) -> None:
    await conn.execute(
        key_rotation.update()
        .where(key_rotation.c.target == name)
        .values(last_id=last_id, rows=rows, done=done, updated_at=now())
    )


def _rotated(rt: Runtime, target: Target, value: Any) -> Any:
    if value is None:
        return None
    if target.text:
        if not value.startswith(SEALED):
            return None  # stored before bodies were sealed: sealing them is not rotation's job
        return SEALED + rt.box.rotate(value[len(SEALED) :].encode("ascii")).decode("ascii")
    if not bytes(value):
        return None  # an emptied payload (sent mail)
    return rt.box.rotate(bytes(value))


def _rotate_rows(rt: Runtime, target: Target, found: Sequence[Any]) -> list[tuple[Any, Any, Any]]:
    return [(r[0], r[1], _rotated(rt, target, r[1])) for r in found]


def _rotate_file_blobs(rt: Runtime, names: Sequence[str]) -> None:
    for name in names:
        _rotate_blob(rt, name)


async def _rotate_target(rt: Runtime, target: Target, batch: int, report: Callable[[str], None]) -> None:
    state = await _progress(rt, target.name)
    if state is None or state.done:
        return
    last, rows = int(state.last_id), int(state.rows)
    key: Column[Any] = target.table.c[target.key]
    col: Column[Any] = target.table.c[target.column]
    while True:
        async with rt.engine.connect() as conn:
            found = (await conn.execute(select(key, col).where(key > last).order_by(key).limit(batch))).all()
        if not found:
            break
        updates = await asyncio.to_thread(_rotate_rows, rt, target, found)
        async with rt.engine.begin() as conn:
            for ident, old, new in updates:
                if new is not None:
                    # Compare-and-set: a value rewritten meanwhile (a new password, a token refresh)
                    # is already under a current key and must not be overwritten with the old one.
                    await conn.execute(
                        target.table.update().where(key == ident, col == old).values({target.column: new})
                    )
            last, rows = int(found[-1][0]), rows + len(found)
            await _save(conn, target.name, last, rows, False)
        report(f"{target.name}: {rows:,} rows")
    async with rt.engine.begin() as conn:
        await _save(conn, target.name, last, rows, True)


def _rotate_blob(rt: Runtime, name: str) -> None:
    path = rt.blobs._path(name)
    try:
        token = path.read_bytes()
    except FileNotFoundError:
        return  # deleted meanwhile (forget, retention)
    tmp = path.with_suffix(".rot")
    tmp.write_bytes(rt.box.rotate(token))
    os.replace(tmp, path)  # atomic: a reader gets the old token or the new one, both decrypt


async def _rotate_blobs(rt: Runtime, batch: int, report: Callable[[str], None]) -> None:
    state = await _progress(rt, BLOBS)
    if state is None or state.done:
        return
    last, rows = int(state.last_id), int(state.rows)
    while True:
        async with rt.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(attachments.c.id, attachments.c.blob)
                    .where(attachments.c.id > last, attachments.c.blob.is_not(None))
                    .order_by(attachments.c.id)
                    .limit(batch)
                )
            ).all()
        if not found:
            break
        await asyncio.to_thread(_rotate_file_blobs, rt, [r.blob for r in found if not is_db_blob(r.blob)])
        for r in found:
            if is_db_blob(r.blob):
                await rt.attachment_store.database.rotate(r.blob)
        last, rows = int(found[-1].id), rows + len(found)
        async with rt.engine.begin() as conn:
            await _save(conn, BLOBS, last, rows, False)
        report(f"{BLOBS}: {rows:,} blobs")
    async with rt.engine.begin() as conn:
        await _save(conn, BLOBS, last, rows, True)


async def _rehash(rt: Runtime, name: str, step: Rehash, batch: int, report: Callable[[str], None]) -> None:
    state = await _progress(rt, name)
    if state is None or state.done:
        return
    last, rows = int(state.last_id), int(state.rows)
    while True:
        seen, changed = await step(rt, last, batch)
        if seen is None:
            break
        last, rows = seen, rows + changed
        async with rt.engine.begin() as conn:
            await _save(conn, name, last, rows, False)
        report(f"{name}: {rows:,} rows")
    async with rt.engine.begin() as conn:
        await _save(conn, name, last, rows, True)


async def _pass(rt: Runtime, batch: int, report: Callable[[str], None]) -> None:
    for target in TARGETS:
        await _rotate_target(rt, target, batch, report)
    await _rotate_blobs(rt, batch, report)
    for name, step in REHASHES.items():
        await _rehash(rt, name, step, batch, report)


async def run_rotation(
    rt: Runtime,
    *,
    batch: int = 200,
    report: Callable[[str], None] = lambda _s: None,
    grace: float = CATCH_UP_AFTER,
) -> None:
    """Re-encrypt every target; then older generations are retired (their keys may be removed).
    A second pass after `grace` takes the rows other processes wrote meanwhile: they may have
    encrypted with the old key until they noticed the new one (SecretBox.RECHECK)."""
    await _pass(rt, batch, report)
    async with rt.engine.begin() as conn:
        marker = select(func.count()).select_from(key_rotation).where(key_rotation.c.target == CAUGHT_UP)
        rerun = not await conn.scalar(marker)
        if rerun:
            await conn.execute(key_rotation.update().values(done=False))
            await conn.execute(
                key_rotation.insert().values(
                    target=CAUGHT_UP, generation=0, last_id=0, done=True, rows=0, updated_at=now()
                )
            )
    if rerun:
        report(f"catching up with what was written meanwhile (in {grace:.0f} s)")
        await asyncio.sleep(grace)
    await _pass(rt, batch, report)
    current = await _current(rt)
    async with rt.engine.begin() as conn:
        await conn.execute(
            key_fingerprints.update()
            .where(
                key_fingerprints.c.generation < current.generation, key_fingerprints.c.retired_at.is_(None)
            )
            .values(retired_at=now())
        )
    if rt.box.key_file is not None and len(rt.box.keys) > 1:
        _write_key_file(rt.box.key_file, [rt.box.keys[0]])
        rt.box.use_keys([rt.box.keys[0]])


async def status_lines(rt: Runtime) -> list[str]:
    mine = rt.box.fingerprints()
    async with rt.engine.connect() as conn:
        gens = (await conn.execute(select(key_fingerprints).order_by(key_fingerprints.c.generation))).all()
        progress = (
            await conn.execute(
                select(key_rotation).where(key_rotation.c.target != CAUGHT_UP).order_by(key_rotation.c.target)
            )
        ).all()
    lines = []
    for g in gens:
        state = (
            "retired"
            if g.retired_at
            else "current"
            if g is gens[-1]
            else "old (still in use until the rotation ends)"
        )
        held = "held by this process" if g.fingerprint in mine else "not held by this process"
        lines.append(f"key generation {g.generation}: fingerprint {g.fingerprint[:12]}, {state}, {held}")
    if progress:
        finished = all(p.done for p in progress)
        lines.append(
            "rotation: " + ("finished" if finished else "in progress (run `inboxlink keys rotate` to resume)")
        )
        lines.extend(f"  {p.target}: {p.rows:,} done{'' if p.done else ', continuing'}" for p in progress)
    return lines
