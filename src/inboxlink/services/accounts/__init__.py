"""Who uses inboxlink and through which mailboxes: users, teams and tokens; connecting an inbox;
its connection health and notifications; the `inboxlink status` report."""
