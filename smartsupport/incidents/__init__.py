"""Incidents: many tickets about one problem, found while they are classified.

``tracker`` decides (model workers), ``registry`` is what operators do with incidents (the API),
``state`` holds the small values both use, ``window`` the recent tickets a worker keeps in memory.
Their state in Redis is the store's ``incidents`` part (smartsupport/store/incidents.py).
"""

from .registry import IncidentRegistry
from .state import Policy, Seen, title_of
from .tracker import IncidentTracker
from .window import RecentWindow

__all__ = ["IncidentRegistry", "IncidentTracker", "Policy", "RecentWindow", "Seen", "title_of"]
