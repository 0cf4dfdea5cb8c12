"""Business hours: deadlines across weekends, public holidays, lunch breaks and DST changes, each
expected instant written out by hand in UTC (with the local time beside it); open time as the
inverse of a deadline; pauses; the calendars part of the routing file."""

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartsupport import routing
from smartsupport.calendars import WALL_CLOCK, Calendar, from_config, holiday_dates
from smartsupport.errors import ConfigError
from tests.unit.test_routing import EXAMPLE, LABELS, example_env, raw_example  # noqa: F401 (the fixture below)

pytestmark = pytest.mark.usefixtures("example_env")  # the example file's ${NAME}s
HOUR = 3600.0
BERLIN_SPEC = {"timezone": "Europe/Berlin", "hours": {"mon-fri": ["09:00-12:30", "13:30-18:00"]},
               "holidays": {"country": "DE", "subdivision": "BE"}}
NEW_YORK_SPEC = {"timezone": "America/New_York", "hours": {"mon-fri": ["08:00-17:00"], "sat": ["10:00-14:00"]},
                 "holidays": {"country": "US"}}


def utc(text: str) -> float:
    """An instant written in UTC, e.g. ``utc("2026-11-30 10:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def calendar(spec: dict, name: str = "desk"):
    problems: list[str] = []
    found = from_config(name, spec, problems)
    assert problems == []
    return found


BERLIN = calendar(BERLIN_SPEC, "berlin")
NEW_YORK = calendar(NEW_YORK_SPEC, "new-york")
BERLIN_ALWAYS = calendar({"timezone": "Europe/Berlin", "hours": {"mon-sun": ["00:00-24:00"]}})


@pytest.mark.parametrize("desk, start, open_hours, due", [
    # a weekend: Fri 16:00 CET, 2 h left that day, Mon 09:00-11:00 CET
    (BERLIN, "2026-11-27 15:00", 4, "2026-11-30 10:00"),
    # a lunch break: Tue 11:00 CET, 1.5 h to 12:30, then 13:30-14:00 CET
    (BERLIN, "2026-11-24 10:00", 2, "2026-11-24 13:00"),
    # Christmas: Thu 24 Dec 17:00 CET, 1 h; Fri 25 (holiday), the weekend; Mon 28 09:00-12:00 CET
    (BERLIN, "2026-12-24 16:00", 4, "2026-12-28 11:00"),
    # Easter: Thu 2 Apr 17:00 CEST, 1 h; Good Friday, the weekend, Easter Monday; Tue 7 Apr 09:00-12:00 CEST
    (BERLIN, "2026-04-02 15:00", 4, "2026-04-07 10:00"),
    # the clocks go back on Sun 25 Oct: Fri 17:00 CEST, 1 h; Mon 26 09:00-12:00 CET (UTC+1 now)
    (BERLIN, "2026-10-23 15:00", 4, "2026-10-26 11:00"),
    # Thanksgiving: Wed 25 Nov 15:00 EST, 2 h; Thu 26 (holiday); Fri 27 08:00-14:00 EST
    (NEW_YORK, "2026-11-25 20:00", 8, "2026-11-27 19:00"),
    # the clocks go back on Sun 1 Nov: Fri 30 Oct 16:00 EDT, 1 h; Sat 10:00-14:00 EDT; Mon 2 Nov 08:00-09:00 EST
    (NEW_YORK, "2026-10-30 20:00", 6, "2026-11-02 14:00"),
    # opened before hours: Mon 07:00 CET counts from 09:00 CET
    (BERLIN, "2026-11-30 06:00", 1, "2026-11-30 09:00"),
])
def test_a_deadline_is_the_instant_the_calendar_gives(desk, start, open_hours, due):
    assert desk.add_open_time(utc(start), open_hours * HOUR) == utc(due)
    assert desk.open_seconds_between(utc(start), utc(due)) == open_hours * HOUR


@pytest.mark.parametrize("start, end, hours", [
    ("2026-10-24 22:00", "2026-10-25 23:00", 25),  # Sun 25 Oct, Berlin: a 25-hour day
    ("2026-03-28 23:00", "2026-03-29 22:00", 23),  # Sun 29 Mar, Berlin: a 23-hour day
])
def test_a_local_day_of_a_dst_change_is_as_long_as_it_really_is(start, end, hours):
    assert BERLIN_ALWAYS.open_seconds_between(utc(start), utc(end)) == hours * HOUR
    assert BERLIN_ALWAYS.add_open_time(utc(start), hours * HOUR) == utc(end)


def test_closed_dates_are_closed_beside_the_holidays():
    # Given Berlin closed on Christmas Eve too
    desk = calendar({**BERLIN_SPEC, "closed": ["2026-12-24"]})

    # Wed 23 Dec 17:00 CET: 1 h; 24 closed, 25 and 26 holidays, the weekend; Mon 28 09:00-12:00 CET
    assert desk.add_open_time(utc("2026-12-23 16:00"), 4 * HOUR) == utc("2026-12-28 11:00")
    assert not desk.is_open(utc("2026-12-24 10:00")) and BERLIN.is_open(utc("2026-12-24 10:00"))


def test_is_open_and_next_open_follow_the_hours():
    lunch, saturday = utc("2026-11-24 11:45"), utc("2026-11-28 11:00")  # Tue 12:45 CET, Sat 12:00 CET

    assert BERLIN.is_open(utc("2026-11-24 11:29")) and not BERLIN.is_open(lunch)
    assert BERLIN.next_open(lunch) == utc("2026-11-24 12:30")  # 13:30 CET
    assert BERLIN.next_open(saturday) == utc("2026-11-30 08:00")  # Mon 09:00 CET
    assert BERLIN.next_open(utc("2026-11-24 10:00")) == utc("2026-11-24 10:00")
    assert BERLIN.closing_at(utc("2026-11-24 10:00")) == utc("2026-11-24 11:30") and BERLIN.closing_at(lunch) is None
    assert not NEW_YORK.is_open(saturday)  # 06:00 EST, before Saturday's 10:00-14:00
    assert not NEW_YORK.is_open(utc("2026-11-28 14:59")) and NEW_YORK.is_open(utc("2026-11-28 15:00"))


@settings(max_examples=200, deadline=None)
@given(start=st.floats(min_value=utc("2026-01-01 00:00"), max_value=utc("2027-12-31 00:00")),
       open_s=st.floats(min_value=0.0, max_value=200 * HOUR))
def test_open_seconds_between_is_the_inverse_of_add_open_time(start, open_s):
    for desk in (BERLIN, NEW_YORK):
        due = desk.add_open_time(start, open_s)
        assert desk.open_seconds_between(start, due) == pytest.approx(open_s, abs=1e-3)
        assert desk.open_seconds_between(due, start) == pytest.approx(-open_s, abs=1e-3)
        assert open_s < 1 or desk.is_open(due - 1e-3)  # a deadline falls in open time


def test_the_wall_clock_keeps_plain_sums():
    assert WALL_CLOCK.add_open_time(1000.0, 900.0) == 1900.0
    assert WALL_CLOCK.open_seconds_between(1000.0, 1900.0) == 900.0
    assert WALL_CLOCK.is_open(0.0) and WALL_CLOCK.next_open(5.0) == 5.0


def test_a_route_gets_both_targets_in_its_policy_calendar():
    rules = routing.load(EXAMPLE, labels=LABELS)
    route = rules.route(routing.RoutedTicket("Billing", "low", 0.1, metadata={"tier": "gold"}))

    # Fri 27 Nov 16:00 CET, the gold policy (berlin): 2 h to a first response, 16 h to a resolution
    record = route.record(created_at=utc("2026-11-27 15:00"), routing=rules)

    assert record["sla"] == {
        "policy": "gold", "calendar": "berlin", "breached": False, "paused_at": None, "open_s_used": 0,
        "first_response_due": utc("2026-11-27 17:00"),  # Fri 18:00 CET, the 2 h left that day
        "warning_at": utc("2026-11-27 16:30"),  # 1.5 h
        # 16 h: Fri 2 h, Mon 30 Nov 8 h, Tue 1 Dec 09:00-12:30 and 13:30-16:00 CET
        "resolution_due": utc("2026-12-01 15:00"),
        "resolution_warning_at": utc("2026-12-01 10:00")}  # 12 h: Fri 2 h, Mon 8 h, Tue 09:00-11:00 CET


def test_a_policy_without_a_calendar_counts_the_wall_clock_as_before():
    rules = routing.parse({"teams": [{"name": "a"}], "sla_policies": {"p": {"first_response_minutes": 30}},
                           "rules": [{"name": "all", "team": "a", "sla": "p"}]}, labels=LABELS)

    sla = rules.route(routing.RoutedTicket("Other", "low", 0.1)).record(created_at=1000.5, routing=rules)["sla"]

    assert (sla["first_response_due"], sla["warning_at"]) == (1000.5 + 1800, 1000.5 + 1350)
    assert (sla["resolution_due"], sla["resolution_warning_at"], sla["calendar"]) == (None, None, None)


# Mon 23 Nov 09:00 CET, Berlin: 4 h to a first response (due Mon 14:00 CET, its warning at 12:00
# CET), 16 h to a resolution (due Tue 18:00 CET, its warning at Tue 14:00 CET)
POLICY = routing.SlaPolicy("desk", 4 * HOUR, 16 * HOUR, "berlin")
CREATED = utc("2026-11-23 08:00")
SLA = {"policy": "desk", "calendar": "berlin", "breached": False, "paused_at": None, "open_s_used": 0,
       "first_response_due": utc("2026-11-23 13:00"), "warning_at": utc("2026-11-23 11:00"),
       "resolution_due": utc("2026-11-24 17:00"), "resolution_warning_at": utc("2026-11-24 13:00")}


def test_the_policy_gives_the_written_out_deadlines():
    rules = routing.Routing({}, {}, {"desk": POLICY}, (), calendars={"berlin": BERLIN})
    route = routing.Route("a", "all", "", "normal", "desk", ())

    assert route.record(created_at=CREATED, routing=rules)["sla"] == SLA


def test_a_pause_keeps_the_open_time_used_and_counts_the_rest_from_the_resume():
    # Given a pause at Mon 10:00 CET (1 h used) and a resume at Wed 25 Nov 09:00 CET
    resumed = routing.sla_after_resume({**SLA, "paused_at": utc("2026-11-23 09:00")}, POLICY, BERLIN,
                                       paused_at=utc("2026-11-23 09:00"), resumed_at=utc("2026-11-25 08:00"))

    assert resumed == {**SLA, "paused_at": None, "open_s_used": HOUR,
                       "first_response_due": utc("2026-11-25 11:00"),  # 3 h left: Wed 12:00 CET
                       "warning_at": utc("2026-11-25 10:00"),  # 2 h left: Wed 11:00 CET
                       # 15 h left: Wed 8 h, Thu 09:00-12:30 and 13:30-17:00 CET
                       "resolution_due": utc("2026-11-26 16:00"),
                       "resolution_warning_at": utc("2026-11-26 11:00")}  # 11 h left: Thu 12:00 CET


def test_a_pause_after_the_first_response_due_moves_only_what_is_still_ahead():
    # Given a pause at Mon 16:00 CET (6 h used: the first response already due) and a resume at Tue 09:00 CET,
    # when the ticket was closed after hours anyway
    resumed = routing.sla_after_resume(SLA, POLICY, BERLIN, paused_at=utc("2026-11-23 15:00"),
                                       resumed_at=utc("2026-11-24 08:00"))

    assert resumed["first_response_due"] == SLA["first_response_due"] and resumed["warning_at"] == SLA["warning_at"]
    # 10 h left: Tue 8 h, Wed 09:00-11:00 CET; 6 h to the warning: Tue 09:00-12:30 and 13:30-16:00 CET
    assert (resumed["resolution_due"], resumed["resolution_warning_at"]) == (utc("2026-11-25 10:00"),
                                                                             utc("2026-11-24 15:00"))
    assert resumed["open_s_used"] == 6 * HOUR


def test_a_pause_on_the_wall_clock_moves_each_instant_by_the_pause():
    policy = routing.SlaPolicy("p", 900.0)
    sla = {"policy": "p", "first_response_due": 1900.0, "warning_at": 1675.0, "breached": False,
           "resolution_due": None, "resolution_warning_at": None, "calendar": None, "paused_at": 1100.0,
           "open_s_used": 0}

    resumed = routing.sla_after_resume(sla, policy, None, paused_at=1100.0, resumed_at=5100.0)

    assert (resumed["first_response_due"], resumed["warning_at"], resumed["open_s_used"]) == (5900.0, 5675.0, 100.0)
    with pytest.raises(ValueError):
        routing.sla_after_resume(sla, policy, None, paused_at=1100.0, resumed_at=1000.0)


def test_the_example_file_has_two_calendars_and_both_targets():
    rules = routing.load(EXAMPLE, labels=LABELS)

    assert {name: (c.timezone, c.country, c.subdivision) for name, c in rules.calendars.items()} == {
        "berlin": ("Europe/Berlin", "DE", "BE"), "new-york": ("America/New_York", "US", None)}
    assert rules.sla_policies["relaxed"] == routing.SlaPolicy("relaxed", 480 * 60, 2400 * 60, "berlin")
    assert rules.calendars["berlin"].hours[0] == ((9 * 60, 12 * 60 + 30), (13 * 60 + 30, 18 * 60))


@pytest.mark.parametrize("change, expected", [
    (lambda r: r["calendars"]["berlin"].update(timezone="Europe/Berlinn"),
     "calendars.berlin.timezone: needs an IANA time zone such as Europe/Berlin, not 'Europe/Berlinn'"),
    (lambda r: r["calendars"]["berlin"].pop("timezone"), "calendars.berlin.timezone: needs an IANA time zone"),
    (lambda r: r["calendars"]["berlin"].update(hours={"mon-fri": ["9-17"]}),
     "calendars.berlin.hours.mon-fri: '9-17' is not an interval HH:MM-HH:MM"),
    (lambda r: r["calendars"]["berlin"].update(hours={"mon-fri": ["18:00-09:00"]}),
     "calendars.berlin.hours.mon-fri: '18:00-09:00' is not an interval HH:MM-HH:MM that ends after it starts"),
    (lambda r: r["calendars"]["berlin"].update(hours={"mon-fri": ["09:00-13:00"], "mon": ["12:00-14:00"]}),
     "calendars.berlin.hours: intervals overlap on mon"),
    (lambda r: r["calendars"]["berlin"].update(hours={"mon-fri": []}),
     "calendars.berlin.hours: no open time at all (every weekday closed)"),
    (lambda r: r["calendars"]["berlin"].update(hours={}), "calendars.berlin.hours: needs a mapping of days"),
    (lambda r: r["calendars"]["berlin"].update(hours={"mon-fry": ["09:00-17:00"]}),
     "calendars.berlin.hours: unknown days 'mon-fry'"),
    (lambda r: r["calendars"]["berlin"].update(hours={"sat-mon": ["09:00-17:00"]}),
     "calendars.berlin.hours: the range 'sat-mon' runs backwards"),
    (lambda r: r["calendars"]["berlin"]["holidays"].update(country="XX"),
     "calendars.berlin.holidays.country: 'XX' is not a country the holidays package knows"),
    (lambda r: r["calendars"]["berlin"]["holidays"].update(subdivision="ZZ"),
     "calendars.berlin.holidays.subdivision: 'ZZ' is not a subdivision of DE"),
    (lambda r: r["calendars"]["berlin"].update(closed=["2026-12-32"]),
     "calendars.berlin.closed: '2026-12-32' is not a date YYYY-MM-DD"),
    (lambda r: r["calendars"]["berlin"].update(opening="never"), "calendars.berlin: unknown keys ['opening']"),
    (lambda r: r["sla_policies"]["gold"].update(calendar="paris"),
     "sla_policies.gold.calendar: unknown calendar 'paris' (calendars: ['berlin', 'new-york'])"),
    (lambda r: r["sla_policies"].update(gold={"calendar": "berlin"}),
     "sla_policies.gold: needs first_response_minutes or resolution_minutes (or both)"),
    (lambda r: r["sla_policies"]["gold"].update(resolution_minutes=60),
     "sla_policies.gold: resolution_minutes (60) is below first_response_minutes (120)"),
    (lambda r: r["sla_policies"]["gold"].update(resolution_minutes="a day"),
     "sla_policies.gold.resolution_minutes: must be a number of minutes above 0, not 'a day'"),
    (lambda r: r["sla_policies"]["gold"].update(first_response_hours=2),
     "sla_policies.gold: unknown keys ['first_response_hours']"),
    (lambda r: r.update(calendars=["berlin"]), "calendars: must be a mapping of name to"),
])
def test_a_bad_calendar_or_policy_is_refused_naming_the_place(change, expected):
    raw = raw_example()
    change(raw)

    with pytest.raises(ConfigError) as refused:
        routing.parse(raw, labels=LABELS, source="routing.yaml")

    assert expected in str(refused.value)


def test_every_calendar_problem_is_named_at_once():
    raw = raw_example()
    raw["calendars"]["berlin"]["timezone"] = "Mars/Olympus"
    raw["calendars"]["new-york"]["hours"] = {"mon-fri": ["08:00-25:00"]}
    raw["sla_policies"]["urgent"] = {}

    with pytest.raises(ConfigError) as refused:
        routing.parse(raw, labels=LABELS, source="routing.yaml")

    assert str(refused.value).splitlines()[1:] == [
        "  - calendars.berlin.timezone: needs an IANA time zone such as Europe/Berlin, not 'Mars/Olympus'",
        "  - calendars.new-york.hours.mon-fri: '08:00-25:00' is not an interval HH:MM-HH:MM that ends after it "
        "starts (24:00 at most)",
        "  - sla_policies.urgent: needs first_response_minutes or resolution_minutes (or both), numbers above 0",
        "  - rules[0] (critical-technical): unknown SLA policy 'urgent' (policies: ['gold', 'relaxed', 'standard'])"]


def test_a_policy_with_a_resolution_target_only_is_valid():
    rules = routing.parse({"teams": [{"name": "a"}], "sla_policies": {"p": {"resolution_minutes": 60}},
                           "rules": [{"name": "all", "team": "a", "sla": "p"}]}, labels=LABELS)

    assert rules.sla_policies["p"] == routing.SlaPolicy("p", None, 3600.0, None)


def test_a_calendar_with_no_open_time_is_refused_when_built_directly():
    with pytest.raises(ConfigError, match="calendar shut: needs opening hours on at least one weekday"):
        Calendar("shut", "Europe/Berlin", tuple(() for _ in range(7)))


def test_each_year_of_holidays_is_computed_once_when_first_needed():
    holiday_dates.cache_clear()
    desk = calendar(BERLIN_SPEC)
    assert holiday_dates.cache_info().misses == 0  # loading computes none

    desk.add_open_time(utc("2026-12-30 16:00"), 12 * HOUR)  # into 2027: Fri 1 Jan is a holiday too
    desk.add_open_time(utc("2026-06-01 08:00"), 40 * HOUR)

    assert holiday_dates.cache_info().misses == 2  # 2026 and 2027, once each
