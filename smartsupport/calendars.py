"""Business hours: when a team is open, and how much open time lies between two instants.

A ``Calendar`` has an IANA time zone, weekly opening intervals (several a day, e.g. a lunch break),
public holidays of a country (and optional subdivision) from the ``holidays`` package, and extra
closed dates. Each local day's intervals are turned into instants in the zone on their own, so that
a day of a DST change is as long as it really is; days are walked one at a time, and each year's
holidays and each day's instants are computed once. ``WALL_CLOCK`` is open all the time: its
deadlines are plain sums, as before calendars existed. ``from_config`` builds a calendar from its
part of the routing file, naming every problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from .errors import ConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Days in a row without open time after which a walk gives up (the calendar is closed for good).
MAX_CLOSED_DAYS = 3 * 366
#: Days whose instants a calendar keeps; past this the cache starts again.
DAY_CACHE = 4096
KEYS = ("timezone", "hours", "holidays", "closed")
INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

Interval = tuple[int, int]  # minutes after local midnight: [start, end), end at most 24 * 60


@lru_cache(maxsize=512)
def holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of a country (and subdivision) in one year, computed once."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


@dataclass(frozen=True)
class Calendar:
    name: str
    timezone: str
    #: Per weekday, Monday first: that day's opening intervals, in order, not overlapping.
    hours: tuple[tuple[Interval, ...], ...]
    country: str | None = None
    subdivision: str | None = None
    closed: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _days: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        if len(self.hours) != 7 or not any(self.hours):
            raise ConfigError(f"calendar {self.name}: needs opening hours on at least one weekday")

    def add_open_time(self, start: float, seconds: float) -> float:
        """The instant at which ``seconds`` of open time have passed since ``start``."""
        if seconds <= 0:
            return start
        left = seconds
        for opens, closes in self._intervals_after(start):
            opens = max(opens, start)
            if left <= closes - opens:
                return opens + left
            left -= closes - opens
        raise AssertionError("_intervals_after never ends")

    def open_seconds_between(self, a: float, b: float) -> float:
        """Open time from ``a`` to ``b``; negative when ``b`` comes first, so that
        ``add_open_time(a, open_seconds_between(a, b)) == b`` for an open ``b``."""
        if b < a:
            return -self.open_seconds_between(b, a)
        total, day, last = 0.0, self._local_date(a), self._local_date(b)
        while day <= last:
            total += sum(max(0.0, min(b, closes) - max(a, opens)) for opens, closes in self._intervals(day))
            day += timedelta(days=1)
        return total

    def is_open(self, epoch: float) -> bool:
        return any(opens <= epoch < closes for opens, closes in self._intervals(self._local_date(epoch)))

    def next_open(self, epoch: float) -> float:
        """``epoch`` when open then, else the instant the calendar next opens."""
        opens, _ = next(self._intervals_after(epoch))
        return max(opens, epoch)

    def closing_at(self, epoch: float) -> float | None:
        """The end of the open interval ``epoch`` falls in; None when closed then."""
        return next((closes for opens, closes in self._intervals(self._local_date(epoch)) if opens <= epoch < closes),
                    None)

    def _intervals_after(self, epoch: float) -> Iterator[tuple[float, float]]:
        """Each open interval that ends after ``epoch``, in order, for as long as asked."""
        day, closed_days = self._local_date(epoch), 0
        while closed_days < MAX_CLOSED_DAYS:
            intervals = [(o, c) for o, c in self._intervals(day) if c > epoch]
            closed_days = 0 if intervals else closed_days + 1
            yield from intervals
            day += timedelta(days=1)
        raise ConfigError(f"calendar {self.name}: no open time in the {MAX_CLOSED_DAYS} days after {day}")

    def _local_date(self, epoch: float) -> date:
        return datetime.fromtimestamp(epoch, self._zone).date()

    def _intervals(self, day: date) -> tuple[tuple[float, float], ...]:
        """The day's open intervals as instants (none on a holiday or closed date)."""
        found = self._days.get(day)
        if found is None:
            if len(self._days) >= DAY_CACHE:
                self._days.clear()
            found = () if self._is_closed(day) else tuple(
                (opens, closes) for opens, closes in ((self._instant(day, s), self._instant(day, e))
                                                      for s, e in self.hours[day.weekday()]) if opens < closes)
            self._days[day] = found
        return found

    def _instant(self, day: date, minute: int) -> float:
        # Wall-clock arithmetic on an aware datetime: 24:00 is the next local midnight, and each end
        # takes the UTC offset in force at that local time (a time skipped by DST counts as after it).
        return (datetime(day.year, day.month, day.day, tzinfo=self._zone) + timedelta(minutes=minute)).timestamp()

    def _is_closed(self, day: date) -> bool:
        return day in self.closed or (
            self.country is not None and day in holiday_dates(self.country, self.subdivision, day.year))


@dataclass(frozen=True)
class WallClock:
    """Always open: deadlines on the wall clock."""
    name: None = None

    def add_open_time(self, start: float, seconds: float) -> float:
        return start + max(seconds, 0.0)

    def open_seconds_between(self, a: float, b: float) -> float:
        return b - a

    def is_open(self, epoch: float) -> bool:
        return True

    def next_open(self, epoch: float) -> float:
        return epoch


WALL_CLOCK = WallClock()


def from_config(name: str, raw: Any, problems: list[str]) -> Calendar | None:
    """A calendar from its part of the routing file (``calendars.<name>``), or None after adding
    each problem, named by its place, to ``problems``."""
    where = f"calendars.{name}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping of {list(KEYS)}")
        return None
    before = len(problems)
    unknown = set(raw) - set(KEYS)
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(map(str, unknown))} (known: {list(KEYS)})")
    timezone = raw.get("timezone")
    try:
        ZoneInfo(timezone if isinstance(timezone, str) else "")
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where}.timezone: needs an IANA time zone such as Europe/Berlin, not {timezone!r}")
    hours = _hours(raw.get("hours"), f"{where}.hours", problems)
    country, subdivision = _holidays(raw.get("holidays"), f"{where}.holidays", problems)
    closed = _closed(raw.get("closed"), f"{where}.closed", problems)
    if len(problems) > before:
        return None
    return Calendar(str(name), timezone, hours, country, subdivision, closed)


def _hours(raw: Any, where: str, problems: list[str]) -> tuple[tuple[Interval, ...], ...]:
    week: list[list[Interval]] = [[] for _ in WEEKDAYS]
    before = len(problems)
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: needs a mapping of days (mon, mon-fri, sat,sun) to intervals such as "
                        "[\"09:00-17:00\"]")
        return tuple(() for _ in WEEKDAYS)
    for days, intervals in raw.items():
        found = _days(str(days), where, problems)
        spans = [_interval(v, f"{where}.{days}", problems) for v in (
            intervals if isinstance(intervals, list) else [intervals])]
        for day in found:
            week[day].extend(s for s in spans if s is not None)
    for day, spans in enumerate(week):
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            if start < end:
                problems.append(f"{where}: intervals overlap on {WEEKDAYS[day]}")
    if not any(week) and len(problems) == before:  # not when the intervals were bad already
        problems.append(f"{where}: no open time at all (every weekday closed)")
    return tuple(tuple(spans) for spans in week)


def _days(text: str, where: str, problems: list[str]) -> list[int]:
    """Weekday numbers of ``mon``, ``mon-fri`` or ``sat,sun``."""
    found = []
    for part in text.replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            problems.append(f"{where}: unknown days {text!r} (days: {', '.join(WEEKDAYS)}; a range such as mon-fri)")
            return []
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            problems.append(f"{where}: the range {part!r} runs backwards (write it as two, e.g. fri,sat-sun)")
            return []
        found.extend(range(start, end + 1))
    return found


def _interval(raw: Any, where: str, problems: list[str]) -> Interval | None:
    m = INTERVAL.match(raw.strip()) if isinstance(raw, str) else None
    if m is not None:
        h1, m1, h2, m2 = map(int, m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 < 24 and m1 < 60 and m2 < 60 and end <= 24 * 60 and start < end:
            return start, end
    problems.append(f"{where}: {raw!r} is not an interval HH:MM-HH:MM that ends after it starts (24:00 at most)")
    return None


def _holidays(raw: Any, where: str, problems: list[str]) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    country = raw.get("country") if isinstance(raw, dict) else None
    subdivision = raw.get("subdivision") if isinstance(raw, dict) else None
    supported = holidays.list_supported_countries()
    if not isinstance(raw, dict) or set(raw) - {"country", "subdivision"}:
        problems.append(f"{where}: must be a mapping {{country, subdivision (optional)}}, e.g. {{country: DE, "
                        "subdivision: BE}")
    elif country not in supported:
        problems.append(f"{where}.country: {country!r} is not a country the holidays package knows "
                        "(an ISO 3166 code such as DE or US)")
    elif subdivision is not None and subdivision not in supported[country]:
        problems.append(f"{where}.subdivision: {subdivision!r} is not a subdivision of {country} "
                        f"(known: {', '.join(supported[country])})")
    else:
        return country, subdivision
    return None, None


def _closed(raw: Any, where: str, problems: list[str]) -> frozenset[date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        problems.append(f"{where}: must be a list of dates YYYY-MM-DD")
        return frozenset()
    found = set()
    for value in raw:
        try:  # YAML reads an unquoted 2026-12-24 as a date already
            found.add(value if type(value) is date else date.fromisoformat(str(value)))
        except ValueError:
            problems.append(f"{where}: {value!r} is not a date YYYY-MM-DD")
    return frozenset(found)
