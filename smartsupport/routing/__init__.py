"""Routing: which team owns a ticket, its priority, its SLA deadlines and who is alerted.

A routing file (``SMARTSUPPORT_ROUTING_FILE``, YAML or JSON; see docs/routing.md and
examples/routing.yaml) has ``teams``, ``destinations``, ``calendars`` (business hours),
``sla_policies`` and ordered ``rules``. The first rule whose ``match`` holds wins; the last rule has
no ``match`` and catches the rest. Loading checks everything at once and raises ``ConfigError``
naming each bad place, so that a file is applied whole or not at all.

Without a routing file, ``default_routing`` gives today's behaviour: each category routes to a team
of the same name, and urgent tickets go to every ``SMARTSUPPORT_WEBHOOK_URLS`` endpoint.
"""

from .file import load, parse
from .rules import (EVENTS, Destination, Match, Member, Route, RoutedTicket, Routing, Rule, Team, default_routing,
                    routed_ticket)
from .sla import SlaPolicy, sla_after_resume
from .source import RoutingSource

__all__ = ["EVENTS", "Destination", "Match", "Member", "Route", "RoutedTicket", "Routing", "RoutingSource", "Rule",
           "SlaPolicy", "Team", "default_routing", "load", "parse", "routed_ticket", "sla_after_resume"]
