"""The shared domain: what every service's aggregates have in common (pure, no I/O, no clock)."""
