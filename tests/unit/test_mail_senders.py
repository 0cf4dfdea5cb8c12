"""Who a message is from, who may add to a ticket by mail, and what tells a repeat from another message."""

import pytest

from smartsupport import mail
from smartsupport.ticket import Ticket
from tests.helpers import mail_message


def raw(body: str = "The CSV export fails.", **headers: str) -> bytes:
    msg = mail_message(**headers)
    msg.set_content(body)
    return msg.as_bytes()


def from_header(value: str) -> bytes:
    """A message whose From is written byte for byte as given (EmailMessage would tidy it)."""
    return (f"From: {value}\r\nSubject: Export broken\r\nMessage-ID: <m1@customer.example>\r\n\r\n"
            "The CSV export fails.\r\n").encode()


def ticket_of(inbound: mail.Inbound) -> Ticket:
    return Ticket.new(body=inbound.body, subject=inbound.subject, customer=inbound.customer(),
                      metadata=inbound.metadata())


@pytest.mark.parametrize("header", [
    "dana@customer.example <eve@evil.example>",        # a lenient parseaddr reads dana here
    "Dana <dana@customer.example> <eve@evil.example>",
    "alice@customer.example, eve@evil.example",
    "=?utf-8?q?dana=40customer.example?= <eve@evil.example>",  # an encoded word is a display name
    '"dana@customer.example" <eve@evil.example>',
])
def test_an_address_in_a_display_name_is_never_the_sender(header):
    inbound = mail.parse(from_header(header))

    assert inbound.sender_email != "dana@customer.example"
    assert inbound.customer().get("email") != "dana@customer.example"


def test_the_sender_is_the_addr_spec_lower_cased_with_its_display_name():
    inbound = mail.parse(from_header("Dana Whitfield <Dana@Customer.Example>"))

    assert (inbound.sender_name, inbound.sender_email) == ("Dana Whitfield", "dana@customer.example")


def test_a_ticket_takes_replies_from_its_customer_its_first_cc_and_whoever_joined_it():
    # Given a ticket opened by Dana, with Lee in Cc, and a reply Sam sent that joined it
    ticket = ticket_of(mail.parse(raw(Cc="Lee <Lee@Customer.example>, Ops <ops@customer.example>")))
    replies = [{"from": "sam@customer.example", "body": "same here"}]

    def may(sender: str) -> bool:
        return mail.may_join(mail.parse(raw(sender=sender, message_id="<r@x>")), ticket, replies)

    assert ticket.metadata["cc"] == ["lee@customer.example", "ops@customer.example"]
    assert may("DANA@customer.EXAMPLE") and may("Lee <lee@customer.example>") and may("sam@customer.example")
    assert not may("Eve <eve@evil.example>")
    assert not may('"dana@customer.example" <eve@evil.example>')  # the customer's address as a display name
    assert not may("dana@customer.example <eve@evil.example>")
    assert mail.participants(ticket, replies) == {"dana@customer.example", "lee@customer.example",
                                                  "ops@customer.example", "sam@customer.example"}


def test_a_message_without_a_sender_joins_nothing():
    ticket = ticket_of(mail.parse(raw()))

    assert not mail.may_join(mail.parse(from_header("undisclosed-recipients:;")), ticket, [])


def test_a_repeat_has_the_same_digest_and_another_message_under_the_same_id_another():
    first = mail.parse(raw("Please fix the export.\n"))

    assert mail.parse(raw("Please fix the export.\n")).digest == first.digest
    assert mail.parse(raw("Please  fix the\r\nexport.", sender="Dana <DANA@customer.example>")).digest == first.digest
    assert mail.parse(raw("Please delete our account.")).digest != first.digest
    assert mail.parse(raw("Please fix the export.", subject="Urgent")).digest != first.digest
    assert mail.parse(raw("Please fix the export.", sender="eve@evil.example")).digest != first.digest


def test_the_digest_reads_the_whole_text_not_only_what_the_ticket_keeps():
    kept = "word " * (mail.MAX_BODY_CHARS // 5)

    assert mail.parse(raw(kept + "one ending")).digest != mail.parse(raw(kept + "another ending")).digest


def test_a_flagged_reply_names_the_ticket_it_claimed_to_answer():
    inbound = mail.parse(raw(sender="eve@evil.example", In_Reply_To="<m0@customer.example>"))

    assert inbound.metadata(claimed_reply_to="t-123") == {
        "channel": "email", "message_id": "<m1@customer.example>", "unverified_reply": True,
        "claimed_reply_to": "t-123"}
    assert "unverified_reply" not in inbound.metadata()
