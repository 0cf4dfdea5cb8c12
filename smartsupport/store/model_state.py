"""What the model processes share besides operators' examples: the traffic centre they score
around (smartsupport.centring).

  ss:classifier:centre   string: the centre, ``TrafficCentre.to_bytes`` (JSON)
"""

from __future__ import annotations

from . import keys
from .base import Part, guarded


class ModelState(Part):
    @guarded
    def traffic_centre(self) -> str | None:
        """The traffic centre the model processes share (``TrafficCentre.to_bytes``, JSON), if any yet."""
        return self.r.get(keys.TRAFFIC_CENTRE)

    @guarded
    def save_traffic_centre(self, raw: str) -> None:
        """Keep a model process's updated centre; the last writer wins (a concurrent batch's update
        is lost, a few tickets' worth of statistics)."""
        self.r.set(keys.TRAFFIC_CENTRE, raw)
