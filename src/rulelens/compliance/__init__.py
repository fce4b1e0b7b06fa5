"""Check a variant's rules on a building model (docs/compliance.md)."""
