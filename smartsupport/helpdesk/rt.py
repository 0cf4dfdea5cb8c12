"""Request Tracker 5 through its REST2 API (``/REST/2.0``): new tickets by a TicketSQL search over
ticket ids, replies and people's changes by a search over transaction ids, write-backs by ``PUT
/ticket/N`` and ``POST /ticket/N/comment``. Every request authenticates (basic auth), and RT checks
the password's hash each time; RT answers some refusals with 200 and the error in the body, so
bodies are checked too."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from ..errors import HelpdeskRejected, HelpdeskUnavailable
from . import Change, NewTicket, Reply, WriteBack

#: An RT answer that says a change was not made (RT sends these with a 200).
REFUSED = re.compile(r"(?i)\b(invalid|not found|permission denied|couldn't|could not|can't|cannot|"
                     r"not a valid|no such|illegal)\b")
PER_PAGE_MAX = 100
#: New tickets' texts read at once (RT's standalone server runs several processes).
BODY_READERS = 4


def base_url(url: str) -> tuple[str, str]:
    """``rt://user@host[:port][/path]`` (``rt+https://`` for TLS) -> (the REST2 base URL, the user)."""
    parts = urlsplit(url)  # checked when the settings were read (parsing.helpdesk_url)
    scheme = "https" if parts.scheme == "rt+https" else "http"
    port = f":{parts.port}" if parts.port else ""
    return f"{scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}/REST/2.0", unquote(parts.username)


class RequestTracker:
    """The connector for RT 5: ``intake`` are the queues new tickets are taken from."""

    def __init__(self, url: str, password: str, *, intake: tuple[str, ...], timeout_s: float = 10.0) -> None:
        self.base, self.user = base_url(url)
        self.intake, self.timeout_s = intake, timeout_s
        self.session = requests.Session()
        self.session.auth = (self.user, password)
        self._names: dict[str, dict[str, str]] = {"queue": {}, "customfield": {}}

    def new_tickets(self, cursor: int, *, limit: int = 50) -> tuple[list[NewTicket], int]:
        queues = " OR ".join(f"Queue = '{_quoted(q)}'" for q in self.intake)
        found = self._call("GET", "/tickets", params={
            "query": f"id > {int(cursor)} AND ({queues})", "orderby": "id", "order": "ASC",
            "per_page": min(limit, PER_PAGE_MAX), "fields": "Subject,Queue,Requestor"})["items"]
        with ThreadPoolExecutor(BODY_READERS) as pool:  # one request each: RT answers them side by side
            bodies = list(pool.map(self._body, [item["id"] for item in found]))
        tickets = [NewTicket(item["id"], item.get("Subject") or "", body, self._name("queue", item["Queue"]["id"]),
                             next((r["id"] for r in item.get("Requestor") or []), None))
                   for item, body in zip(found, bodies)]
        return tickets, max([cursor, *(int(t.external_id) for t in tickets)])

    def replies(self, cursor: int, *, limit: int = 50) -> tuple[list[Reply], int]:
        found, last = self._transactions(cursor, limit, [{"field": "Type", "value": "Correspond"}])
        replies = [Reply(t["ObjectId"], t["Creator"]["id"], self._text(f"/transaction/{t['id']}/attachments"))
                   for t in found]
        return replies, last

    def changes_by_people(self, cursor: int, *, limit: int = 50) -> tuple[list[Change], int]:
        found, last = self._transactions(cursor, limit, [])
        return [c for c in map(self._change, found) if c is not None], last

    def write_back(self, result: WriteBack) -> None:
        update: dict[str, Any] = {"Priority": result.priority, "CustomFields": result.fields}
        if result.queue:
            update["Queue"] = result.queue
        _check(self._call("PUT", f"/ticket/{result.external_id}", json=update))
        if result.comment is not None:
            _check(self._call("POST", f"/ticket/{result.external_id}/comment",
                              json={"Content": result.comment, "ContentType": "text/plain"}))

    def _transactions(self, cursor: int, limit: int, where: list[dict]) -> tuple[list[dict], int]:
        """Ticket transactions after ``cursor`` (those of this connector's own account left out), and
        the cursor after every one looked at."""
        found = self._call("POST", "/transactions", params={
            "orderby": "id", "order": "ASC", "per_page": min(limit, PER_PAGE_MAX),
            "fields": "Type,Creator,Field,OldValue,NewValue,ObjectId"}, json=[
            {"field": "id", "operator": ">", "value": int(cursor)},
            {"field": "ObjectType", "value": "RT::Ticket"}, *where])["items"]
        last = max([cursor, *(int(t["id"]) for t in found)])
        # The guard against loops: what this connector wrote is never read back as a person's change.
        return [t for t in found if t["Creator"]["id"] != self.user], last

    def _change(self, txn: dict) -> Change | None:
        ticket, author = txn["ObjectId"], txn["Creator"]["id"]
        if txn["Type"] == "Set" and txn["Field"] == "Queue":
            return Change(ticket, "queue", author, self._name("queue", txn["NewValue"]))
        if txn["Type"] == "CustomField":
            return Change(ticket, "field", author, txn.get("NewValue") or "", self._name("customfield", txn["Field"]))
        if txn["Type"] == "Status" and txn.get("NewValue") == "deleted":
            return Change(ticket, "deleted", author)
        return None

    def _body(self, ticket: str) -> str:
        return self._text(f"/ticket/{ticket}/attachments")

    def _text(self, path: str) -> str:
        """The first text part of what ``path`` lists (a ticket's first one is what created it)."""
        parts = self._call("GET", path, params={"fields": "Content,ContentType", "orderby": "id", "order": "ASC",
                                                "per_page": 10})["items"]
        return next((p["Content"] for p in parts if p.get("ContentType") == "text/plain" and p.get("Content")), "")

    def _name(self, kind: str, record_id: str) -> str:
        """A queue's or custom field's name by its id (the history gives ids), looked up once."""
        names = self._names[kind]
        if str(record_id) not in names:
            names[str(record_id)] = self._call("GET", f"/{kind}/{record_id}")["Name"]
        return names[str(record_id)]

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            answer = self.session.request(method, self.base + path, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise HelpdeskUnavailable(f"RT at {self.base}: {type(exc).__name__}: {exc}") from exc
        if answer.status_code >= 500 or answer.status_code == 429:
            raise HelpdeskUnavailable(f"RT answered {answer.status_code} to {method} {path}")
        if answer.status_code >= 400:
            raise HelpdeskRejected(f"RT answered {answer.status_code} to {method} {path}: {answer.text[:300]}")
        try:
            return answer.json()
        except ValueError:
            raise HelpdeskUnavailable(f"RT answered {method} {path} with no JSON: {answer.text[:200]}") from None


def _check(messages: Any) -> None:
    """RT answers an update with a list of messages, a refusal among them (with a 200)."""
    refused = [m for m in messages if isinstance(m, str) and REFUSED.search(m)] if isinstance(messages, list) else []
    if refused:
        raise HelpdeskRejected("RT refused: " + "; ".join(refused)[:500])


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


def connector(settings, intake: tuple[str, ...]) -> RequestTracker:
    """The connector for SMARTSUPPORT_HELPDESK_URL, its password read from the data dir's
    ``helpdesk_password`` (never from a command line or the environment)."""
    from ..config import read_secret

    return RequestTracker(settings.helpdesk_url or "", read_secret(settings.data_dir, "helpdesk_password"),
                          intake=intake, timeout_s=settings.webhook_timeout_s)
