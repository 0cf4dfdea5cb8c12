"""The errors SmartSupport raises: one root and a small tree, each named for what happened.

None of them knows about HTTP: ``web/errors.py`` maps each to a status and a code in one table.
"""

from __future__ import annotations

from typing import Any


class SmartSupportError(Exception):
    """Base class for all SmartSupport errors."""


class ConfigError(SmartSupportError):
    """Raised when a setting is missing or has a value that cannot be used."""


class InvalidTicket(SmartSupportError):
    """Raised when a submitted ticket (or another request body) fails validation."""

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        #: One ``{"field", "message"}`` per problem found, when there is more to say than the message.
        self.details = details or []


class UnknownLabel(SmartSupportError):
    """Raised when a correction names a label that is not in the current label set."""


class TicketNotFound(SmartSupportError):
    """Raised when no ticket exists with the requested id."""


class IncidentNotFound(SmartSupportError):
    """Raised when no incident exists with the requested id."""


class IdempotencyKeyReused(SmartSupportError):
    """Raised when an Idempotency-Key comes back with a different request body."""


class IdempotencyKeyInProgress(SmartSupportError):
    """Raised when an Idempotency-Key comes back while the first request with it has not finished."""


class TicketNotFailed(SmartSupportError):
    """Raised when a retry is asked for a ticket that has not failed."""


class NoWebhookEndpoints(SmartSupportError):
    """Raised when a delivery is asked for but no webhook endpoint is configured."""


class EndpointNotDisabled(SmartSupportError):
    """Raised when an endpoint is to be re-enabled that nothing disabled."""


class IncidentNotOpen(SmartSupportError):
    """Raised when an incident that is closed or merged is to be closed."""


class IncidentMerged(SmartSupportError):
    """Raised when an incident that was merged into another takes part in a merge."""


class IncidentMergedIntoItself(SmartSupportError):
    """Raised when an incident is to be merged into itself."""


class UnknownTeam(SmartSupportError):
    """Raised when a request names a team that the routing does not have."""


class NotATeamMember(SmartSupportError):
    """Raised when an agent asks for work of a team that does not list them."""


class UnknownAgent(SmartSupportError):
    """Raised when a request names an agent that no team of the routing lists."""


class AgentKeyNotFound(SmartSupportError):
    """Raised when a key to revoke is not one of the agent's."""


class ActingAsAnotherAgent(SmartSupportError):
    """Raised when an agent's key asks to act as another agent."""


class AgentNotNamed(SmartSupportError):
    """Raised when a key that is no agent's takes work without naming the agent it is for."""


class AgentAtCapacity(SmartSupportError):
    """Raised when an agent asks for more work while holding as many open tickets as their capacity."""


class NoRoute(SmartSupportError):
    """Raised when a ticket to acknowledge or resolve has not been routed yet."""


class StoreUnavailable(SmartSupportError):
    """Raised when the ticket store (Redis) cannot be reached."""


class NotReplicated(StoreUnavailable):
    """Raised when too few replicas confirmed a new ticket in time (SMARTSUPPORT_REPLICA_ACKS)."""


class StoreFull(StoreUnavailable):
    """Raised when the ticket store refuses writes: Redis reached its memory limit (maxmemory)."""


class HelpdeskUnavailable(SmartSupportError):
    """Raised when the helpdesk cannot be reached or answers a 5xx: worth trying again later."""


class HelpdeskRejected(SmartSupportError):
    """Raised when the helpdesk refuses a request (a 4xx, or an error in its answer's body)."""


class WebhookFailed(SmartSupportError):
    """Raised when a webhook delivery failed in a way worth retrying (5xx, 429, timeout, network)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class WebhookRejected(SmartSupportError):
    """Raised when a webhook endpoint answered a 4xx that retrying cannot fix."""
