"""Background workers inside `serve`/`worker`: the outbox sender and the per-inbox monitors."""
