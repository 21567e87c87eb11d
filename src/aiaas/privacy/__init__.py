"""PII detection and redaction for model calls."""
