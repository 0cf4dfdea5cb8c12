import pytest

from smartsupport.normalize import clean_markup, is_courtesy, latest_reply, normalize

FORMAL = (
    "Dear Support Team,\n\n"
    "I hope you are well. Since yesterday's update the reporting dashboard shows a "
    "timeout error for every chart. Restarting the browser did not help.\n\n"
    "Thanks so much for your help. I look forward to your reply.\n\n"
    "Best regards,\n"
    "Jordan Miles\n"
    "Operations Lead, Example Corp\n"
    "+1 555 0100"
)


def test_a_formal_email_keeps_only_what_it_reports():
    text = normalize(FORMAL)

    assert text == ("Since yesterday's update the reporting dashboard shows a timeout error for every chart. "
                    "Restarting the browser did not help.")


def test_quoted_replies_below_the_newest_message_are_dropped():
    thread = ("The invoice is still wrong, the VAT number is missing.\n\n"
              "On Mon, 3 Mar 2025 at 10:00, Support <help@example.com> wrote:\n"
              "> Could you send us the invoice number?\n> Thanks")

    assert normalize(thread) == "The invoice is still wrong, the VAT number is missing."


@pytest.mark.parametrize("raw, expected", [
    ("First line.\\nSecond line.", "First line.\nSecond line."),  # a literal backslash-n
    ("Hello<br>world<br/>again", "Hello\nworld\nagain"),
    ("My account <acc_num> was charged, call me at <tel_num>.", "My account was charged, call me at ."),
    ("Sincerely, [Your Name]", "Sincerely,"),
    ("**Problem:** export fails", "Problem: export fails"),
])
def test_markup_literal_newlines_and_placeholders_are_cleaned(raw, expected):
    assert clean_markup(raw) == expected


def test_a_windows_path_keeps_its_backslashes():
    assert clean_markup(r"The file C:\new\name.txt is locked") == r"The file C:\new\name.txt is locked"


@pytest.mark.parametrize("sentence", [
    "Thank you for your help.", "I look forward to hearing from you.", "Best regards,",
    "Let me know if anything else is needed.", "I hope this email finds you well.",
])
def test_courtesy_sentences_are_recognised(sentence):
    assert is_courtesy(sentence)


@pytest.mark.parametrize("sentence", [
    "Thank you, but the refund never arrived.", "Please reply as soon as possible, our shop is down.",
    "I look forward to the fix for the login error.", "We need this by Friday.",
])
def test_sentences_with_content_are_not_courtesy(sentence):
    assert not is_courtesy(sentence)


@pytest.mark.parametrize("raw, expected", [
    ("Hi, where is my refund?", "where is my refund?"),
    ("hello I want to check my invoice", "hello I want to check my invoice"),
    ("Hi I cannot log in.", "Hi I cannot log in."),
    ("Customer Support, our server crashed.", "our server crashed."),
])
def test_a_greeting_goes_but_the_request_stays(raw, expected):
    assert normalize(raw) == expected


def test_a_ticket_that_is_only_courtesy_still_gives_the_models_words():
    assert normalize("Thanks!") == "Thanks!"
    assert normalize("Dear team,\n\nThank you so much for your help.") == "Thank you so much for your help."


def test_a_long_signature_is_not_taken_for_one():
    # "Thanks," on a line of its own starts a signature for the library; what follows here is the ticket
    body = "Hi,\nThanks, but " + "the export still fails for every report we run. " * 12
    assert "export still fails" in latest_reply(body)


def test_normalising_twice_changes_nothing_more():
    once = normalize(FORMAL)
    assert normalize(once) == once
