"""Local development tools: the Drift API simulator, the CRM sink and the seed data they serve."""
