"""What every use case stands on: the runtime (settings, engine, secret box, blobs, wake-ups), inbox
leases between workers, and timeline events between processes."""
