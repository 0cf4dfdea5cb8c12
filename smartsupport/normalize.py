"""What the models read of a ticket: its own words, without the parts every e-mail shares.

Greetings, courtesy lines ("I hope this message finds you well", "Thank you for your help"),
sign-offs, signatures, quoted earlier replies and template placeholders say nothing about what the
ticket is about or how urgent it is, yet in a long formal e-mail they are a large share of the
words: left in, they decide the embedding's nearest label and fire severity phrases ("hearing" in
"I look forward to hearing from you"). ``normalize`` removes them; the stored ticket keeps the
original. Pure functions, regular expressions only (a few hundred microseconds a ticket).

Quoted replies and signature blocks are found by mail-parser-reply (MIT, no dependencies); the
rest is ours: courtesy is recognised by vocabulary (a sentence made only of courtesy and function
words carries no topic), so new wordings of the same formula need no new pattern.
"""

from __future__ import annotations

import html
import re

from mailparser_reply.parser import EmailMessage

#: A signature block longer than this is more likely the ticket itself after a line such as
#: "Thanks, but ..." (the library cuts everything after a sign-off line): keep the text then.
_MAX_SIGNATURE_CHARS = 400

_LITERAL_NEWLINE = re.compile(r"\\n(?![a-z])|(?<![\w:])\\n")  # not the "\n" of C:\new or \name
_HTML_TAG = re.compile(r"</?(?:br|p|div|li|ul|ol|tr|td|th|table|tbody|span|b|i|u|em|strong|font|a|html|body)"
                       r"\b[^<>]{0,200}/?>", re.IGNORECASE)
#: Template placeholders: <name>, <acc_num>, [Your Name], {{first_name}}.
_PLACEHOLDER = re.compile(r"<[a-z][a-z0-9_]{0,30}>|\[(?:your|customer|company|insert)\b[^\[\]\n]{0,40}\]"
                          r"|\{\{?\s*[\w.]{1,40}\s*\}?\}", re.IGNORECASE)
_MARKUP = re.compile(r"\*\*|__|^#+\s|^>+\s?", re.MULTILINE)
#: An opening salutation: "Dear Customer Support," "Hello team!" "Hi," "To whom it may concern:".
_GREETING = re.compile(r"^[ \t]*(?:(?:dear|hello|hi|hey|greetings|good (?:morning|afternoon|evening|day)|respected)"
                       r"(?:[ \t]+(?!(?:i|i'm|we|my|our|me|you|is|are|can|the|this)\b)[\w'-]+){0,4}[ \t]*[,.!:;\n]"
                       r"|(?:to )?(?:the )?(?:customer )?(?:support|service|help ?desk)(?: team)?[,:]"
                       r"|to whom it may concern\b[,.:;]?)[ \t]*", re.IGNORECASE | re.MULTILINE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z']+")
#: Courtesy and function words. A sentence made only of these (and of no other letters) is a
#: greeting, a thank-you, a sign-off or a "let me know if you need anything": it names no product,
#: problem, amount or deadline. Content words (invoice, outage, refund, urgent, today) are absent
#: on purpose; "soon" alone is here, "as soon as possible" is not ("possible" is not).
_COURTESY_WORDS = frozenset("""
a about advance again all also am an and any anything appreciate appreciated are as assist assistance at attention
await awaiting back be best cheers consideration concern contact contacting cooperation could day dear do
eagerly earliest email emails else ever everyone for forward from further glad good grateful gratefully great
greatly greetings have hear hearing hello help helping hesitate hey hi hope hoping i if in is it its i'm
i've kind kindly know let letter look looking me message my need needed thankful much note of on or other our
please pleased prompt promptly quick quickly questions reach reaches reaching receive regard regarding regards
reply respected response responses respond require required sincerely so soon support swift swiftly take team
thank thanks that the this time timely to touch understanding us very we well wish wishes with would you your
yours info information details detail additional helpful patience attention kindness warm warmly best hopefully
finds find health customer inform informed provide share feel free more convenience earliest
 staff service services there here matter regards valued assistant can will shall
writing write wrote reaching out getting get hearing really truly sincere
""".split())


def normalize(text: str) -> str:
    """The ticket as the models should read it: literal ``\\n`` sequences as line breaks, HTML
    line tags and template placeholders removed, the latest reply only (no quoted history, no
    signature), and no greeting or courtesy sentences. When nothing would be left (a ticket that is
    only "Thanks!"), the courtesy is kept, so the models always see words."""
    cleaned = clean_markup(text)
    reply = latest_reply(cleaned)
    ungreeted = _GREETING.sub("", reply).strip()
    return _drop_courtesy(ungreeted) or ungreeted or reply or cleaned or text.strip()


def clean_markup(text: str) -> str:
    """Literal ``\\n`` as line breaks, HTML line tags and entities, Markdown emphasis and template
    placeholders (``<name>``, ``[Your Name]``) removed; spaces collapsed within each line."""
    text = _LITERAL_NEWLINE.sub("\n", text.replace("\r\n", "\n"))
    text = _HTML_TAG.sub("\n", text)
    text = html.unescape(text)
    text = _PLACEHOLDER.sub(" ", text)
    text = _MARKUP.sub("", text)
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def latest_reply(text: str) -> str:
    """The newest message of an e-mail thread, without quoted replies below it and without its
    signature block (mail-parser-reply). A long "signature" is kept: see ``_MAX_SIGNATURE_CHARS``."""
    if "\n" not in text and ">" not in text:
        return text  # one line: nothing to split, and the library's work is not free
    replies = EmailMessage(text=text, languages=["en"], keep_hyphen_lists=True).read().replies
    if not replies:
        return text
    first = replies[0]
    body = first.body if len(first.signatures) <= _MAX_SIGNATURE_CHARS else first.full_body
    return body.strip() or text


def strip_courtesy(text: str) -> str:
    """``text`` without opening salutations and without sentences made only of courtesy words."""
    return _drop_courtesy(_GREETING.sub("", text))


def _drop_courtesy(text: str) -> str:
    return " ".join(s.strip() for s in _SENTENCE.split(text) if s.strip() and not is_courtesy(s))


def is_courtesy(sentence: str) -> bool:
    """Whether a sentence says nothing but courtesy: every word is a courtesy or function word."""
    words = _WORD.findall(sentence.lower())
    return bool(words) and all(w in _COURTESY_WORDS for w in words) and not re.search(r"\d", sentence)
