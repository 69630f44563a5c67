"""Use cases and transaction boundaries. The only room that combines storage with the IMAP/SMTP edges.

Every function takes the caller's identity (a `Caller`) and scopes every query to the caller's team:
an object of another team is reported as not found, never as forbidden."""
