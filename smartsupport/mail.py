"""What a support mailbox's message becomes: a new ticket, a reply to one, or a refusal with a reason.

Pure: bytes in, an ``Inbound`` out (or ``MailRejected``), so that the mailbox process
(workers/mailbox.py) only fetches, stores and moves. The text is the plain-text part, else the
HTML part turned into text by inscriptis; attachments are listed (name, type, size), never stored.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

from inscriptis import get_text

from .errors import SmartSupportError

#: The largest message turned into a ticket; a larger one goes to the error folder.
MAX_MESSAGE_BYTES = 1024 * 1024
#: What of a body the ticket keeps (the API's own limit on a ticket's body).
MAX_BODY_CHARS = 20_000
MAX_SUBJECT_CHARS = 300


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

    def metadata(self) -> dict:
        return {"channel": "email", "message_id": self.message_id,
                **({"attachments": list(self.attachments)} if self.attachments else {})}

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
    name, address = parseaddr(str(msg.get("From", "")))
    replies = _ids(str(msg.get("In-Reply-To", ""))) + _ids(" ".join(str(v) for v in msg.get_all("References", [])))
    return Inbound(message_id=message_id[0], subject=subject, body=(body.strip() or subject)[:MAX_BODY_CHARS],
                   sender_name=name, sender_email=address.lower(), in_reply_to=tuple(dict.fromkeys(replies)),
                   attachments=tuple(_attachments(msg)))


def _ids(header: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", header)


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
