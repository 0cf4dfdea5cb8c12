"""What a support mailbox's message becomes: a new ticket, a reply to one, or a refusal with a reason.

Pure: bytes in, an ``Inbound`` out (or ``MailRejected``), so that the mailbox process
(workers/mailbox.py) only fetches, stores and moves. The text is the plain-text part, else the
HTML part turned into text by inscriptis; attachments are listed (name, type, size), never stored.

Whom a ticket takes replies from is decided here too (``may_join``): its participants, by address.
Addresses are addr-specs read from the raw headers, compared lower-cased; display names never count.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Iterable

from inscriptis import get_text

from .errors import SmartSupportError
from .ticket import Ticket

#: The largest message turned into a ticket; a larger one goes to the error folder.
MAX_MESSAGE_BYTES = 1024 * 1024
#: What of a body the ticket keeps (the API's own limit on a ticket's body).
MAX_BODY_CHARS = 20_000
MAX_SUBJECT_CHARS = 300
#: The most Cc addresses a ticket keeps as its participants.
MAX_CC = 50


class MailRejected(SmartSupportError):
    """Raised when a message cannot become a ticket: no text, too large, broken MIME, unknown charset."""


@dataclass(frozen=True)
class Inbound:
    message_id: str
    subject: str
    body: str
    sender_name: str
    sender_email: str
    in_reply_to: tuple[str, ...] = ()
    attachments: tuple[dict, ...] = field(default_factory=tuple)
    #: The Cc addresses (lower-cased addr-specs): participants of the ticket this message opens.
    cc: tuple[str, ...] = ()
    #: sha256 of sender, subject and text: with the Message-ID, what tells a repeat from another message.
    digest: str = ""

    def metadata(self, *, claimed_reply_to: str | None = None) -> dict:
        """The ticket's metadata; ``claimed_reply_to``: the ticket this message named as the one it
        answers, whose participants do not include its sender (the ticket is flagged unverified)."""
        return {"channel": "email", "message_id": self.message_id,
                **({"attachments": list(self.attachments)} if self.attachments else {}),
                **({"cc": list(self.cc)} if self.cc else {}),
                **({"unverified_reply": True, "claimed_reply_to": claimed_reply_to} if claimed_reply_to else {})}

    def customer(self) -> dict:
        return {k: v for k, v in (("name", self.sender_name), ("email", self.sender_email)) if v}


def parse(raw: bytes) -> Inbound:
    """The message as a ticket's parts; raises MailRejected with the reason."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MailRejected(f"message too large: {len(raw):,} bytes (at most {MAX_MESSAGE_BYTES:,})")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the parser is lenient; this is for what it still cannot take
        raise MailRejected(f"broken MIME: {type(exc).__name__}: {exc}") from exc
    if msg.defects and not msg.get_payload():
        raise MailRejected(f"broken MIME: {', '.join(type(d).__name__ for d in msg.defects)}")
    message_id = _ids(msg.get("Message-ID", ""))
    if not message_id:
        raise MailRejected("no Message-ID header: the message could not be told apart from a repeat of itself")
    body = _text(msg)
    subject = " ".join(str(msg.get("Subject", "")).split())[:MAX_SUBJECT_CHARS]
    if not body.strip() and not subject.strip():
        raise MailRejected("no text: neither a text part nor a subject")
    name, address = _sender(msg)
    replies = _ids(str(msg.get("In-Reply-To", ""))) + _ids(" ".join(str(v) for v in msg.get_all("References", [])))
    text = body.strip() or subject
    return Inbound(message_id=message_id[0], subject=subject, body=text[:MAX_BODY_CHARS],
                   sender_name=name, sender_email=address, in_reply_to=tuple(dict.fromkeys(replies)),
                   attachments=tuple(_attachments(msg)), cc=tuple(_addresses(msg, "Cc")[:MAX_CC]),
                   digest=digest(address, subject, text))


def digest(sender: str, subject: str, text: str) -> str:
    """What a message says, as a digest: a repeat of it (the same bytes, or the same words wrapped or
    encoded anew) has the same one; whitespace and the case of the address do not count."""
    parts = (sender.lower(), " ".join(subject.split()), " ".join(text.split()))
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def participants(ticket: Ticket, replies: Iterable[dict]) -> set[str]:
    """Who may add to a ticket by mail: its customer, whom its first message had in Cc, and each sender
    whose reply joined it (lower-cased addr-specs)."""
    found = {str(ticket.customer.get("email") or ""), *ticket.metadata.get("cc", ()),
             *(str(r.get("from") or "") for r in replies)}
    return {a.lower() for a in found if a}


def may_join(inbound: Inbound, ticket: Ticket, replies: Iterable[dict]) -> bool:
    """Whether a message that names ``ticket`` as the one it answers is let into it: only when its
    sender is one of the ticket's participants (anyone may learn a Message-ID)."""
    return bool(inbound.sender_email) and inbound.sender_email in participants(ticket, replies)


def _ids(header: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", header)


def _addresses(msg: EmailMessage, name: str) -> list[str]:
    """The addr-specs of a header (every copy of it), lower-cased, once each, from its raw text: an
    encoded word may spell an address, but only ever as a display name."""
    raw = [str(value) for key, value in msg.raw_items() if key.lower() == name.lower()]
    return list(dict.fromkeys(address.lower() for _, address in getaddresses(raw) if "@" in address))


def _sender(msg: EmailMessage) -> tuple[str, str]:
    """The one mailbox of From as (display name, addr-spec); ("", "") when From names none, or more than
    one (``dana@customer.example <eve@evil.example>`` is both, whatever a lenient parser picks)."""
    found = _addresses(msg, "From")
    if len(found) != 1:
        return "", ""
    name, address = parseaddr(str(msg.get("From", "")))
    return (name if address.lower() == found[0] else ""), found[0]


def _text(msg: EmailMessage) -> str:
    """The plain-text part, else the HTML part as text; raises MailRejected for an unknown charset."""
    for preference in (("plain",), ("html",)):
        part = msg.get_body(preferencelist=preference)
        if part is None:
            continue
        try:
            content = part.get_content()
        except LookupError as exc:
            raise MailRejected(f"unknown charset {part.get_content_charset()!r}") from exc
        except Exception as exc:
            raise MailRejected(f"broken MIME: the {preference[0]} part cannot be decoded ({exc})") from exc
        return get_text(content) if preference == ("html",) else content
    return ""


def _attachments(msg: EmailMessage) -> list[dict]:
    found = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True) or b""
        found.append({"name": part.get_filename() or "(unnamed)", "type": part.get_content_type(),
                      "bytes": len(payload)})
    return found
