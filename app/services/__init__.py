"""Use cases. Services never commit: the request or the task owns the transaction."""
