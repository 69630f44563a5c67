"""How many inboxes each worker should hold: N inboxes over W live workers, every worker's share
N // W or one more, the shares summing to exactly N (so 3 workers with 1,000 inboxes hold 334, 333
and 333, never 334/334/332 as a plain ceil(N / W) allows). Each worker computes its own share from
the same facts — the number of monitored inboxes and the ids of the live workers, both read in
its pass — so they agree without talking: the extra inboxes go to the first ids in sorted order."""

from __future__ import annotations

from collections.abc import Iterable


def share_of(inboxes: int, live_workers: Iterable[str], me: str) -> int:
    """The number of inboxes `me` should hold. `me` counts as live even when missing from
    `live_workers` (it is running this pass); no inboxes, no share."""
    ranked = sorted(set(live_workers) | {me})
    base, extra = divmod(max(inboxes, 0), len(ranked))
    return base + (1 if ranked.index(me) < extra else 0)
