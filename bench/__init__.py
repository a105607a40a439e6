"""Benchmarks of the whole system against raw NATS JetStream and PostgreSQL baselines."""
