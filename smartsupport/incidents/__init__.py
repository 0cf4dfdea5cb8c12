"""Incidents: many tickets about one problem, found while they are classified.

``tracker`` decides (model workers), ``registry`` is what operators do with incidents (the API),
``state`` holds the Redis layout they share, ``window`` the recent tickets a worker keeps in memory.
"""

from .registry import IncidentRegistry
from .state import LOG, Policy, Seen, encode, event_subject, title_of
from .tracker import IncidentTracker
from .window import RecentWindow

__all__ = ["LOG", "IncidentRegistry", "IncidentTracker", "Policy", "RecentWindow", "Seen", "encode",
           "event_subject", "title_of"]
