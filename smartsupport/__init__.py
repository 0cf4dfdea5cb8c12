"""SmartSupport: an intelligent queue for customer-support tickets (the domain; no Flask, no Celery)."""

__version__ = "0.1.0"
