"""Email: rendering messages into the outbox inside the caller's transaction, delivering them after the commit, and the back office's view of the outbox."""
