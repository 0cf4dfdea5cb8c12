"""Personal data masked in what leaves SmartSupport for other systems: webhook payloads and log lines.

The stored ticket, the models and the dashboard keep the original text; only the copies sent out
are redacted. Each kind has a check beyond its pattern (Luhn for cards, mod 97 for IBANs,
libphonenumber's validity for phones, letters mixed with digits for tokens), and numbers named as
orders, invoices or tickets are left alone, so that references, amounts, dates and ids (uuids, such
as ticket ids) stay readable. Every pattern starts only at the start of a run or at a keyword and
repeats a bounded number of times, so the work grows linearly with the text.

libphonenumber, which tells a phone number from other digits, costs far more per character than the
patterns (tens of microseconds a try). It reads each stretch of digits and phone punctuation by
itself, only stretches that can hold a number (4 to 60 digits), and at most PHONE_GROUPS_PER_EVENT
digit groups of them per text, or per payload in ``redact_value``. What it does not read fails
closed: a longer stretch, or one past the budget, is masked whole as ``[number]``. So one event
takes a bounded time whatever its strings hold (120 KB of ``12 34 ...``: about 40 ms, was 2.4 s).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterator

import phonenumbers

DEFAULT_REGION = "US"
#: ``number``: a stretch of digits that was not read (too long, or past the budget), masked unread.
KINDS = ("email", "phone", "card", "iban", "secret", "number")
#: The order in which overlapping findings are settled: a token is a secret even if it holds digits,
#: and a stretch masked unread covers whatever else it holds.
_PRIORITY = ("number", "secret", "email", "iban", "card", "phone")
#: The digit groups of phone-shaped stretches that libphonenumber reads for one text or one payload
#: (30-80 us each): 20,000 characters of eval/data/redaction.jsonl, dense with numbers, hold 1,500.
PHONE_GROUPS_PER_EVENT = 3000

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}+@[A-Za-z0-9-]{1,63}+(?:\.[A-Za-z0-9-]{1,63}+){1,8}+", re.ASCII)

#: Digits with single spaces or dashes between them, from the start of such a run to its end; not
#: the start of a hexadecimal token (four or more hex characters to the end of the word, a letter
#: first: a ticket or event id such as 4913447934974669bdce…), while digits glued to other letters
#: ("4111111111111111Exp", "…123cvv") still count.
_DIGIT_RUN = re.compile(r"(?<![\w.,/])(?<!\w-)(?<!\d )\d++(?:[ -]\d++)*+(?!(?=[0-9a-fA-F]{4,}\b)[a-fA-F])",
                        re.ASCII)
_DIGITS = re.compile(r"\d+")
_CARD_BRANDS = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|35|6[0245]")

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){10,32}")
#: Length of the IBAN of each country that has one (SWIFT's registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

#: Tokens recognisable by their issuer's prefix, wherever they appear.
_PREFIXED = re.compile(r"""(?<![\w-])(?:
      (?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,247}+
    | gh[pousr]_[A-Za-z0-9]{30,251}+ | github_pat_\w{22,244}+
    | (?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])
    | xox[abposr]-[A-Za-z0-9-]{10,250}+ | AIza[\w-]{35} | glpat-[\w-]{20,250}+
    | whsec_[A-Za-z0-9+/=]{16,250}+ | ssk_[\w-]{16,250}+
    | eyJ[\w-]{8,4096}+\.[\w-]{8,4096}+\.[\w-]{8,4096}+
    )""", re.ASCII | re.VERBOSE)
#: A password's value after its label: ``password: hunter2``, ``pwd=...``, ``my password is s3cret!``.
_PASSWORD = re.compile(r"""(?<![A-Za-z])(?:password|passwd|passphrase|passcode|pwd|pin|pass(?=\s{0,3}[:=]))s?
    (?![A-Za-z])["']?(?P<sep>\s{1,3}is\s{0,3}[:=]?|\s{0,3}[:=])[ \t]{0,3}
    (?:"(?P<quoted>[^"\n]{1,128}+)"|'(?P<single>[^'\n]{1,128}+)'|(?P<bare>[^\s"'<>]{1,128}+))""",
                       re.IGNORECASE | re.VERBOSE)
#: A long token after a word such as token, key or secret (``api_key=...``, ``the token is ...``).
_KEYWORD_TOKEN = re.compile(r"""(?<![A-Za-z])(?:token|key|secret|apikey|credential)s?(?![A-Za-z])
    ["']?(?:\s{1,3}is)?\s{0,3}[:=]?\s{0,3}["']?(?P<value>[A-Za-z0-9+/=_.~-]{16,512}+)""",
                            re.IGNORECASE | re.VERBOSE)
#: A long base64 token anywhere, told from words, ids and hashes by mixing upper case, lower case and digits.
_OPAQUE_TOKEN = re.compile(r"(?<![\w+/=-])[A-Za-z0-9+/_-]{32,512}+={0,2}(?![\w+/=-])", re.ASCII)
_BEARER = re.compile(r"(?<![A-Za-z])(?:bearer|authorization:\s{0,3}basic)\s{1,3}"
                     r"(?P<value>[A-Za-z0-9._~+/=-]{8,4096}+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"://[^\s/:@]{1,64}+:(?P<value>[^\s/@]{1,128}+)@")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}", re.IGNORECASE)

_IDD_00 = re.compile(r"(?<![\w+])00(?=[1-9]\d)")
#: What libphonenumber's matcher reads as part of a number besides digits: its punctuation (with the
#: "x" of an extension), plus signs and brackets (phonenumberutil's VALID_PUNCTUATION and PLUS_CHARS).
_PHONE_PUNCT = (r"\-xX\u2010-\u2015\u2212\u30fc\uff0d-\uff0f \u00a0\u00ad\u200b\u2060\u3000()\uff08\uff09"
                r"\uff3b\uff3d.\[\]/~\u2053\u223c\uff5e+\uff0b")
#: A maximal stretch of digits and that punctuation, holding a digit: a number never runs past one
#: (nor does an extension written "ext. 12", which stays outside the mask).
_PHONE_STRETCH = re.compile(rf"(?<![\d{_PHONE_PUNCT}])[{_PHONE_PUNCT}]*+\d[\d{_PHONE_PUNCT}]*+")
_NOT_DIGIT = re.compile(r"\D+")
#: A stretch masked unread: from its first digit (with a plus or bracket before it) to its last one.
_UNREAD = re.compile(r"[+\uff0b(\[\uff08\uff3b]*\d(?:.*\d)?", re.DOTALL)
#: No valid number of any country has fewer digits (libphonenumber's shortest possible length).
_MIN_PHONE_DIGITS = 4
#: More digits than four international numbers side by side: not read, masked as ``[number]``.
_MAX_STRETCH_DIGITS = 60
#: Characters after a stretch that the matcher looks at: a letter glued to it, ":30" after a time.
_PHONE_CONTEXT = 3
_GLUED_BEFORE = re.compile(r"(?:\w|\w[-/.])$")
_GLUED_AFTER = re.compile(r"\w|[.,]\d")
#: Words after which a number is a reference of ours or of a shop, not a card or a phone.
_REFERENCE = re.compile(r"""(?<![A-Za-z])(?:order|invoice|inv|tracking|ticket|case|ref|reference|po|receipt
    |shipment|parcel|confirmation|booking|transaction|txn|serial|sku|customer|member|policy|claim|rma)s?\.?
    \s{0,2}(?:no\.?|nr\.?|number|num|id|code)?\s{0,2}[:#]?\s{0,2}\#?\s{0,2}$""", re.IGNORECASE | re.VERBOSE)


def findings(text: str, *, region: str = DEFAULT_REGION) -> list[tuple[str, int, int]]:
    """``(kind, start, end)`` of each piece of personal data in ``text``, in order, none overlapping.

    ``region`` is the country (ISO 3166, e.g. ``US``) of phone numbers written without ``+``.
    """
    return _findings(text, region, _Budget())


def redact(text: str, *, region: str = DEFAULT_REGION) -> str:
    """``text`` with each finding replaced by its kind, e.g. ``write to [email] or call [phone]``."""
    return _redact(text, region, _Budget())


def redact_value(obj: Any, *, region: str = DEFAULT_REGION) -> Any:
    """A copy of a JSON-like value with every string redacted; keys, numbers, booleans and None
    are kept, so ids, timestamps and scores still read as they were. Its strings share one budget
    of phone checks (PHONE_GROUPS_PER_EVENT)."""
    return _redact_value(obj, region, _Budget())


class _Budget:
    """The digit groups libphonenumber may still read for one text or one payload."""

    __slots__ = ("groups_left",)

    def __init__(self, groups: int = PHONE_GROUPS_PER_EVENT):
        self.groups_left = groups

    def take(self, groups: int) -> bool:
        if groups > self.groups_left:
            return False
        self.groups_left -= groups
        return True


def _findings(text: str, region: str, budget: _Budget) -> list[tuple[str, int, int]]:
    claimed = bytearray(len(text))
    found: list[tuple[str, int, int]] = []
    phones, unread = _phones(text, region, budget)
    candidates = {"number": iter(unread), "secret": _secrets(text), "email": _emails(text), "iban": _ibans(text),
                  "card": _cards(text), "phone": iter(phones)}
    for kind in _PRIORITY:
        for start, end in candidates[kind]:
            if not any(claimed[start:end]):
                claimed[start:end] = b"\x01" * (end - start)
                found.append((kind, start, end))
    return sorted(found, key=lambda f: f[1])


def _redact(text: str, region: str, budget: _Budget) -> str:
    parts, last = [], 0
    for kind, start, end in _findings(text, region, budget):
        parts += [text[last:start], f"[{kind}]"]
        last = end
    return "".join(parts) + text[last:] if parts else text


def _redact_value(obj: Any, region: str, budget: _Budget) -> Any:
    if isinstance(obj, str):
        return _redact(obj, region, budget)
    if isinstance(obj, dict):
        return {key: _redact_value(value, region, budget) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_redact_value(value, region, budget) for value in obj)
    return obj


class RedactingFilter(logging.Filter):
    """Redacts a record's message (formatted with its args) and traceback before any handler
    writes it. On a handler it sees every record the handler writes; on a logger only the
    records logged on that very logger, not those of its children."""

    def __init__(self, name: str = "", *, region: str = DEFAULT_REGION):
        super().__init__(name)
        self.region = region

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), region=self.region), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, region=self.region)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, region=self.region)
        return True


def install(*, region: str = DEFAULT_REGION, loggers: list[logging.Logger] | None = None) -> None:
    """Add a RedactingFilter to every handler of ``loggers`` (default: the root logger and every
    logger that has handlers of its own), once. Call it after logging is configured."""
    if loggers is None:
        named = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
        loggers = [logging.getLogger()] + [lg for lg in named if lg.handlers]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter(region=region))


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616: the country's length, then the mod-97 check of the rearranged digits."""
    iban = iban.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit() or not iban.isalnum():
        return False
    return int("".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])) % 97 == 1


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(text):
        local, domain = m.group().split("@", 1)
        tld = domain.rsplit(".", 1)[1]
        if tld.isalpha() and len(tld) >= 2 and local.strip("."):
            yield m.start() + len(local) - len(local.lstrip(".")), m.end()


def _cards(text: str) -> Iterator[tuple[int, int]]:
    """13 to 19 digits with a card brand's prefix and a valid Luhn check digit, written together or in
    groups of 3 to 6 (4-4-4-4, 4-6-5): the longest such start of a run of digits, so that an expiry
    date or a security code written after the number stays out of it."""
    for m in _DIGIT_RUN.finditer(text):
        digits, end, first = "", None, 0
        for i, group in enumerate(_DIGITS.finditer(text, m.start(), m.end())):  # lazily: a run can be long
            size = group.end() - group.start()
            first = first or size
            if i and not (3 <= first <= 6 and 3 <= size <= 6):
                break
            digits += group.group()
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_valid(digits) and _CARD_BRANDS.match(digits):
                end = group.end()
        if end is not None and not _is_reference(text, m.start()):
            yield m.start(), end


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    while m := _IBAN.search(text, pos):
        length = IBAN_LENGTHS.get(m.group()[:2].upper())
        end, count = m.start(), 0
        while length and count < length and end < m.end():
            count += text[end] != " "
            end += 1
        if length and count == length and iban_valid(text[m.start():end]) and not (
                end < len(text) and text[end].isalnum()):
            yield m.start(), end
            pos = end
        else:
            pos = m.start() + 1


def _secrets(text: str) -> Iterator[tuple[int, int]]:
    spans = [m.span() for m in _PREFIXED.finditer(text)]
    spans += [m.span("value") for m in _BEARER.finditer(text)]
    spans += [m.span("value") for m in _URL_PASSWORD.finditer(text)]
    spans += [m.span() for m in _OPAQUE_TOKEN.finditer(text) if _mixed(m.group())]
    for m in _PASSWORD.finditer(text):
        name = next(n for n in ("quoted", "single", "bare") if m.group(n) is not None)
        start, end = m.span(name)
        if name == "bare":
            end -= len(m.group(name)) - len(m.group(name).rstrip(".,;)"))
        # "the password is wrong" names no password; "is" is believed only before one with a non-letter.
        if end > start and ("is" not in m.group("sep").lower() or not text[start:end].isalpha()):
            spans.append((start, end))
    for m in _KEYWORD_TOKEN.finditer(text):
        value = m.group("value").rstrip(".-")
        # A uuid after "token" or "key" is one of our ids (tickets, incident tokens), not a credential.
        if (any(c.isdigit() for c in value) and any(c.isalpha() for c in value) and len(value) >= 16
                and not _UUID.fullmatch(value)):
            spans.append((m.start("value"), m.start("value") + len(value)))
    spans.sort()
    return iter(spans)


def _mixed(token: str) -> bool:
    return any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)


def _phones(text: str, region: str, budget: _Budget) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(phone numbers, stretches masked unread). libphonenumber reads each stretch that can hold a
    number by itself, with the character before it and PHONE_CONTEXT after it (the letters, currency
    signs and times it looks at), while the budget lasts."""
    # "0044 20 ..." is "+44 20 ..." from most of Europe; the same length keeps the offsets.
    dialled = _IDD_00.sub(" +", text)
    phones: list[tuple[int, int]] = []
    unread: list[tuple[int, int]] = []
    for stretch in _PHONE_STRETCH.finditer(dialled):
        digits = len(_NOT_DIGIT.sub("", stretch.group()))
        if digits < _MIN_PHONE_DIGITS:
            continue
        groups = len(_DIGITS.findall(stretch.group())) if digits <= _MAX_STRETCH_DIGITS else 0
        if not groups or not budget.take(groups + 2):
            edges = _UNREAD.search(stretch.group())
            unread.append((stretch.start() + edges.start(), stretch.start() + edges.end()))
            continue
        phones += _phones_in(text, dialled, stretch.start(), stretch.end(), region, tries=groups + 4)
    return phones, unread


def _phones_in(text: str, dialled: str, start: int, end: int, region: str, *, tries: int) -> list[tuple[int, int]]:
    """The phone numbers that start in ``dialled[start:end]``, one stretch."""
    offset = max(0, start - 1)
    window = dialled[offset:end + _PHONE_CONTEXT]
    found = []
    for match in phonenumbers.PhoneNumberMatcher(window, region.upper(), leniency=phonenumbers.Leniency.VALID,
                                                 max_tries=tries):
        first, last = offset + match.start, offset + match.end
        if not start <= first < end:
            continue  # in the context after the stretch: its own stretch reads it
        if first and dialled[first - 1] == " " and text[first - 1] == "0":
            first -= 1  # the "00" that became " +"
        before, after = text[max(0, first - 2):first], text[last:last + 2]
        if (_GLUED_BEFORE.search(before) or _GLUED_AFTER.match(after) or any(c in before for c in "$€£¥")
                or _is_reference(text, first)):
            continue  # part of a word or a reference (ORD-2024-118832), an amount, an order or ticket number
        found.append((first, last))
    return found


def _is_reference(text: str, start: int) -> bool:
    return _REFERENCE.search(text, max(0, start - 40), start) is not None
