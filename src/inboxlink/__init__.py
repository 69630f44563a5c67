"""inboxlink: a self-hostable connected inbox for a CRM."""

__version__ = "0.1.0"
