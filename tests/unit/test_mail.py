"""What a message becomes: its text, sender, ids and attachments, or the reason it cannot be a ticket."""

from email.message import EmailMessage

import pytest

from smartsupport import mail
from tests.helpers import mail_message


def message(**headers) -> EmailMessage:
    return mail_message(**{"sender": "Dana Whitfield <Dana@Customer.example>", **headers})


def test_a_plain_message_gives_its_text_sender_and_ids():
    msg = message(In_Reply_To="<m0@ourcompany.example>", References="<first@x> <m0@ourcompany.example>")
    msg.set_content("The CSV export fails.\n")

    inbound = mail.parse(msg.as_bytes())

    assert (inbound.subject, inbound.body) == ("Export broken", "The CSV export fails.")
    assert (inbound.sender_name, inbound.sender_email) == ("Dana Whitfield", "dana@customer.example")
    assert inbound.message_id == "<m1@customer.example>"
    assert inbound.in_reply_to == ("<m0@ourcompany.example>", "<first@x>")


def test_html_alone_is_read_as_text_and_attachments_are_listed_not_kept():
    msg = message()
    msg.set_content("<p>The <b>export</b> fails</p><script>x()</script>", subtype="html")
    msg.add_attachment(b"12345", maintype="image", subtype="png", filename="screen.png")

    inbound = mail.parse(msg.as_bytes())

    assert " ".join(inbound.body.split()) == "The export fails"
    assert inbound.metadata()["attachments"] == [{"name": "screen.png", "type": "image/png", "bytes": 5}]


def test_plain_text_is_preferred_to_html():
    msg = message()
    msg.set_content("plain words")
    msg.add_alternative("<p>html words</p>", subtype="html")

    assert mail.parse(msg.as_bytes()).body == "plain words"


@pytest.mark.parametrize("raw, reason", [
    (b"From: a@b.example\r\nSubject: x\r\n\r\nhello", "no Message-ID"),
    (b"From: a@b.example\r\nMessage-ID: <e@b>\r\n\r\n", "no text"),
    (b"From: a@b.example\r\nMessage-ID: <c@b>\r\nContent-Type: text/plain; charset=x-nope\r\n\r\nhi",
     "unknown charset 'x-nope'"),
    (b"From: a@b.example\r\nMessage-ID: <big@b>\r\n\r\n" + b"x" * (mail.MAX_MESSAGE_BYTES + 1), "too large"),
])
def test_what_cannot_be_a_ticket_says_why(raw, reason):
    with pytest.raises(mail.MailRejected, match=reason):
        mail.parse(raw)


def test_a_long_body_is_cut_to_what_a_ticket_holds():
    msg = message()
    msg.set_content("word " * 10_000)

    assert len(mail.parse(msg.as_bytes()).body) == mail.MAX_BODY_CHARS
