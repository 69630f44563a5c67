"""Mail use cases: sending from the CRM (compose) and delivering it (delivery), logging replies
found by the monitor (replies), mail the user sent or forwarded through their BCC address
(bcc_logging), and correcting where an email is filed (relink)."""
