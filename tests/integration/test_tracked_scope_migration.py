"""Migration 0004 on SQLite and PostgreSQL: tracked ids of an installation that ran without scopes
get the scope their email's origin gives them (the fix for existing installs), and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, select, text

from inboxlink.storage.db import alembic_config, sync_url
from inboxlink.storage.tables import emails, inboxes, teams, threads, tracked_ids
from tests.support.app import fresh_postgres_db, postgres_reachable

STAMP = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_db() as url:
        yield url


def _email(email_id: int, source: str, message_id: str, *, inbox_id: int | None, user_id: int | None) -> dict:
    return {
        "id": email_id, "team_id": 1, "inbox_id": inbox_id, "user_id": user_id, "thread_id": 1,
        "message_id": message_id, "dedupe_key": message_id,
        "direction": "inbound" if source == "imap" else "outbound", "status": "logged",
        "to_addrs": [], "cc_addrs": [], "bcc_addrs": [], "references": [], "problems": [],
        "source": source, "created_at": STAMP,
    }  # fmt: skip


def test_existing_tracked_ids_get_the_scope_of_their_origin(database_url):
    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0003")
    engine = create_engine(sync_url(database_url))
    # Alice (user 1, inbox 10) and Bob (user 2, inbox 20) in team 1, as revision 0003 stored them.
    with engine.begin() as conn:
        conn.execute(insert(teams), [{"id": 1, "name": "t", "created_at": STAMP}])
        conn.execute(
            text(
                "INSERT INTO users (id, team_id, email, name, password_hash, is_admin, bcc_token, created_at) "
                "VALUES (:id, 1, :email, '', 'x', false, :token, :at)"
            ),
            [{"id": 1, "email": "a@t", "token": "ta", "at": STAMP}, {"id": 2, "email": "b@t", "token": "tb", "at": STAMP}],
        )  # fmt: skip
        box = {"secret": b"s", "imap_host": "h", "imap_port": 1, "imap_security": "tls", "smtp_host": "h",
               "smtp_port": 1, "smtp_security": "tls", "status": "connected", "created_at": STAMP}  # fmt: skip
        conn.execute(
            insert(inboxes),
            [{"id": 10, "team_id": 1, "user_id": 1, "email": "a@t", "username": "a", **box},
             {"id": 20, "team_id": 1, "user_id": 2, "email": "b@t", "username": "b", **box}],
        )  # fmt: skip
        conn.execute(insert(threads), [{"id": 1, "team_id": 1, "subject": "", "created_at": STAMP}])
        conn.execute(
            insert(emails),
            [_email(1, "crm", "crm@us", inbox_id=20, user_id=2),
             _email(2, "imap", "reply@them", inbox_id=10, user_id=1),
             _email(3, "sent_folder", "follow@us", inbox_id=10, user_id=1),
             _email(4, "bcc", "bcc@us", inbox_id=None, user_id=2)],
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO tracked_ids (team_id, message_id, email_id) VALUES (1, :m, :e)"),
            [{"m": "crm@us", "e": 1}, {"m": "rewritten@relay", "e": 1}, {"m": "reply@them", "e": 2},
             {"m": "follow@us", "e": 3}, {"m": "bcc@us", "e": 4}],
        )  # fmt: skip
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = {(r.message_id, r.scope): r.email_id for r in conn.execute(select(tracked_ids))}
    assert rows == {
        ("crm@us", "team"): 1,  # our own id: the whole team
        ("rewritten@relay", "inbox:20"): 1,  # an alias without proof: the sending inbox only
        ("reply@them", "inbox:10"): 2,  # learned from inbound mail: the inbox that received it
        ("follow@us", "user:1"): 3,  # the user's own outbound mail: that user
        ("bcc@us", "user:2"): 4,
    }
    # The new key: one id may now be tracked in two scopes.
    with engine.begin() as conn:
        conn.execute(
            insert(tracked_ids).values(team_id=1, message_id="reply@them", scope="inbox:20", email_id=2)
        )
    command.downgrade(cfg, "0003")
    with engine.connect() as conn:
        back = conn.execute(text("SELECT message_id, email_id FROM tracked_ids")).all()
    assert sorted(back) == [
        ("bcc@us", 4),
        ("crm@us", 1),
        ("follow@us", 3),
        ("reply@them", 2),
        ("rewritten@relay", 1),
    ]
    command.upgrade(cfg, "head")
    engine.dispose()
