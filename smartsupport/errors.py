"""The errors SmartSupport raises, one root and a small tree named for what happened."""


class SmartSupportError(Exception):
    """Base class for all SmartSupport errors."""


class ConfigError(SmartSupportError):
    """Raised when a setting is missing or has a value that cannot be used."""


class InvalidTicket(SmartSupportError):
    """Raised when a submitted ticket fails validation."""

    def __init__(self, message: str, *, code: str = "invalid_ticket", status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class TicketNotFound(SmartSupportError):
    """Raised when no ticket exists with the requested id."""


class IncidentNotFound(SmartSupportError):
    """Raised when no incident exists with the requested id."""


class StoreUnavailable(SmartSupportError):
    """Raised when the ticket store (Redis) cannot be reached."""


class WebhookFailed(SmartSupportError):
    """Raised when a webhook delivery failed in a way worth retrying (5xx, 429, timeout, network)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class WebhookRejected(SmartSupportError):
    """Raised when a webhook endpoint answered a 4xx that retrying cannot fix."""
