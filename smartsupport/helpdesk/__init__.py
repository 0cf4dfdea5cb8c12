"""The helpdesk a team already answers customers in, seen through one small interface.

A connector for a helpdesk (rt.py: Request Tracker 5 over REST2) is one class with the four
methods of ``Helpdesk``; workers/helpdesk.py and the write-back task use nothing else, so that the
next helpdesk (Zammad, Znuny, FreeScout) needs no change to the pipeline (docs/helpdesk.md).
mapping.py holds what is decided between the two (pure functions): what SmartSupport writes back,
and what an agent's change means as a correction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class NewTicket:
    """A ticket the helpdesk has that SmartSupport has not taken yet."""
    external_id: str
    subject: str
    body: str
    queue: str
    requestor: str | None = None


@dataclass(frozen=True)
class Reply:
    """Correspondence a person added to a ticket of the helpdesk."""
    external_id: str
    author: str
    body: str


@dataclass(frozen=True)
class Change:
    """What a person (never this connector's own account) changed on a ticket of the helpdesk:
    ``queue`` (``value`` the new queue's name), ``field`` (``name`` the custom field) or ``deleted``."""
    external_id: str
    kind: str
    author: str
    value: str = ""
    name: str = ""


@dataclass(frozen=True)
class WriteBack:
    """What SmartSupport writes to the helpdesk's ticket once its chain is done."""
    external_id: str
    queue: str | None
    priority: int
    fields: dict[str, str] = field(default_factory=dict)
    #: The private comment, written once per ticket (None: written already).
    comment: str | None = None


class Helpdesk(Protocol):
    """What a connector offers. Cursors are the helpdesk's own increasing numbers (RT: ticket and
    transaction ids), kept by the caller; each call returns what it found and the cursor after it."""

    def new_tickets(self, cursor: int, *, limit: int) -> tuple[list[NewTicket], int]:
        """Tickets created in the watched queues after ``cursor``, oldest first."""

    def replies(self, cursor: int, *, limit: int) -> tuple[list[Reply], int]:
        """Correspondence added by people after ``cursor``, oldest first."""

    def changes_by_people(self, cursor: int, *, limit: int) -> tuple[list[Change], int]:
        """Queue, field and status changes after ``cursor`` made by anyone but this connector."""

    def write_back(self, result: WriteBack) -> None:
        """Write queue, priority, fields and the comment; raises HelpdeskUnavailable (try again) or
        HelpdeskRejected (it will not take it)."""
