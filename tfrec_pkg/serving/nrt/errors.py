"""Why an NRT state could not be read or an event not applied; each error names the users."""
from __future__ import annotations

from typing import Mapping, Sequence

_LISTED = 10  # reasons spelled out in a message; the attributes carry all of them


def _listing(reasons: Mapping[str, str]) -> str:
    lines = [f"user {user!r}: {why}" for user, why in list(reasons.items())[:_LISTED]]
    if len(reasons) > _LISTED:
        lines.append(f"... and {len(reasons) - _LISTED} more")
    return "; ".join(lines)


class CorruptState(ValueError):
    """Stored values that are not a state of this model. ``reasons``: {user key: what is wrong}
    (an item state's fault is reported at the user whose event or request read it)."""

    def __init__(self, reasons: Mapping[str, str]):
        self.reasons = dict(reasons)
        super().__init__("unreadable stored state -- " + _listing(self.reasons))


class EventsNotApplied(RuntimeError):
    """The events of an ``on_events`` call that are not in the store, handed back to the caller
    (retry them later, or set them aside); the call's other events were applied.

    ``user_ids``, ``item_ids``, ``category_ids``: those events, in call order (``category_ids``
    empty for models whose events have none); ``columns``: the events' other columns (IMN-Net's
    ``timestamp``, ``is_purchase``, ``features``), {name: list}. ``reasons``: {user key: why}.
    ``maybe_applied``: users whose write was in flight when the store failed -- the store may
    have applied them even though no reply came back."""

    def __init__(self, user_ids: Sequence, item_ids: Sequence, category_ids: Sequence,
                 reasons: Mapping[str, str], maybe_applied: Sequence = (), columns: Mapping | None = None):
        self.user_ids, self.item_ids, self.category_ids = list(user_ids), list(item_ids), list(category_ids)
        self.columns = {k: list(v) for k, v in (columns or {}).items()}
        self.reasons = dict(reasons)
        self.maybe_applied = list(maybe_applied)
        note = f" (the store may have applied {len(self.maybe_applied)} of them)" if self.maybe_applied else ""
        super().__init__(f"{len(self.user_ids)} event(s) not applied{note} -- " + _listing(self.reasons))
