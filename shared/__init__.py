"""Drift CRM Bridge: the package both Cloud Functions import.

Small modules, one concern each: ``config`` (settings), ``secrets`` (Secret Manager),
``logger`` (structured JSON logs), ``errors`` (transient vs permanent), ``events`` (Drift's
webhook models), ``pubsub`` (publisher and push-message envelope), and the worker's pieces.
"""
