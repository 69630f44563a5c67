from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from inboxlink.domain.matching import MAX_CANDIDATES, candidate_ids, find_match
from inboxlink.domain.models import HeaderSummary
from inboxlink.mime.headers import scan_headers

FIXTURES = Path(__file__).parent.parent / "fixtures" / "replies"
TRACKED = "1715000000000.Tr4ck3dT0k3n_-xyz@crm.example.com"


class RecordingLookup:
    """A lookup over a dict that records every call, like one indexed `IN (...)` query."""

    def __init__(self, known: Mapping[str, str]) -> None:
        self.known = dict(known)
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, ids: Sequence[str]) -> Mapping[str, str]:
        self.calls.append(tuple(ids))
        return {i: self.known[i] for i in ids if i in self.known}


def test_candidates_in_reply_to_first_then_references_newest_first() -> None:
    summary = HeaderSummary(message_id="me@x", in_reply_to=("parent@x",), references=("a@x", "b@x", "c@x"))
    assert candidate_ids(summary) == ("parent@x", "c@x", "b@x", "a@x")


def test_candidates_are_deduplicated_keeping_best_position() -> None:
    summary = HeaderSummary(
        message_id=None, in_reply_to=("c@x", "c@x"), references=("a@x", "b@x", "a@x", "c@x")
    )
    assert candidate_ids(summary) == ("c@x", "a@x", "b@x")


def test_candidates_never_include_the_message_itself_or_empty() -> None:
    assert candidate_ids(HeaderSummary(message_id="me@x")) == ()
    assert candidate_ids(HeaderSummary(message_id=None, references=("",))) == ()


def test_candidates_are_capped_newest_first() -> None:
    refs = tuple(f"r{i}@x" for i in range(1000))
    candidates = candidate_ids(HeaderSummary(message_id=None, in_reply_to=("p@x",), references=refs))
    assert len(candidates) == MAX_CANDIDATES
    assert candidates[:3] == ("p@x", "r999@x", "r998@x")


def test_find_match_asks_once_with_all_candidates() -> None:
    lookup = RecordingLookup({"b@x": "thread-b"})
    summary = HeaderSummary(message_id=None, in_reply_to=("p@x",), references=("a@x", "b@x"))
    assert find_match(summary, lookup) == "thread-b"
    assert lookup.calls == [("p@x", "b@x", "a@x")]


def test_find_match_prefers_nearest_tracked_ancestor() -> None:
    lookup = RecordingLookup({"root@x": "old", "mid@x": "newer", "parent@x": "parent"})
    both_in_refs = HeaderSummary(message_id=None, references=("root@x", "mid@x", "other@x"))
    assert find_match(both_in_refs, lookup) == "newer"
    with_parent = HeaderSummary(message_id=None, in_reply_to=("parent@x",), references=("root@x", "mid@x"))
    assert find_match(with_parent, lookup) == "parent"


def test_find_match_without_candidates_does_not_query() -> None:
    lookup = RecordingLookup({"a@x": "t"})
    assert find_match(HeaderSummary(message_id="a@x"), lookup) is None
    assert lookup.calls == []


@pytest.mark.parametrize(
    "near_miss",
    [
        TRACKED[:-1],  # one character short
        TRACKED + "m",  # one character more
        TRACKED.replace("T", "t", 1),  # case differs
        TRACKED.replace("xyz", "xyZ"),
        " " + TRACKED,
    ],
)
def test_find_match_is_exact(near_miss: str) -> None:
    lookup = RecordingLookup({TRACKED: "thread"})
    assert find_match(HeaderSummary(message_id=None, in_reply_to=(near_miss,)), lookup) is None


def test_find_match_ignores_keys_it_did_not_ask_for() -> None:
    """A sloppy lookup (case-insensitive collation) returning its own key spelling must not match."""

    def sloppy(ids: Sequence[str]) -> Mapping[str, str]:
        return {TRACKED: "thread"} if any(i.lower() == TRACKED.lower() for i in ids) else {}

    summary = HeaderSummary(message_id=None, in_reply_to=(TRACKED.upper(),))
    assert find_match(summary, sloppy) is None


@pytest.mark.parametrize(
    "fixture", ["gmail.eml", "outlook.eml", "apple_mail.eml", "thunderbird.eml", "phone.eml", "html_only.eml"]
)
def test_real_client_replies_match_the_tracked_email(fixture: str) -> None:
    raw = (FIXTURES / fixture).read_bytes().replace(b"{TRACKED_ID}", TRACKED.encode())
    lookup = RecordingLookup({TRACKED: "thread-1"})
    assert find_match(scan_headers(raw), lookup) == "thread-1"
    assert len(lookup.calls) == 1


@pytest.mark.parametrize(
    "fixture", ["gmail.eml", "outlook.eml", "apple_mail.eml", "thunderbird.eml", "phone.eml", "html_only.eml"]
)
def test_real_client_replies_do_not_match_an_untracked_id(fixture: str) -> None:
    raw = (FIXTURES / fixture).read_bytes().replace(b"{TRACKED_ID}", TRACKED.encode())
    assert find_match(scan_headers(raw), RecordingLookup({TRACKED[:-1]: "thread-1"})) is None


def test_thunderbird_chain_finds_the_tracked_id_in_the_middle() -> None:
    raw = (FIXTURES / "thunderbird.eml").read_bytes().replace(b"{TRACKED_ID}", TRACKED.encode())
    summary = scan_headers(raw)
    assert summary.in_reply_to == ()
    assert TRACKED in summary.references[1:-1]
    assert find_match(summary, RecordingLookup({TRACKED: "t"})) == "t"


def test_apple_mail_untracked_parent_falls_back_to_references() -> None:
    raw = (FIXTURES / "apple_mail.eml").read_bytes().replace(b"{TRACKED_ID}", TRACKED.encode())
    lookup = RecordingLookup({TRACKED: "t"})
    summary = scan_headers(raw)
    assert summary.in_reply_to and summary.in_reply_to[0] != TRACKED
    assert find_match(summary, lookup) == "t"
    assert lookup.calls[0][0] == summary.in_reply_to[0]
