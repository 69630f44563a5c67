"""Real network peers for integration tests: Dovecot (IMAP/LMTP), the provider's SMTP, a POP3 stub."""
