"""Operator commands: replay dead letters, sync one conversation, backfill a time range, and
preview what a CRM mapping would send. Run ``python -m operations --help``."""
