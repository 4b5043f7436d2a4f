"""m365sim: a local Microsoft 365 simulator (identity platform and Graph) for development, the demo and tests."""
