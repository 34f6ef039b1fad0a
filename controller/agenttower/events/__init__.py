"""The audit trail: FEAT-013 event types and the JSONL file written from the outbox.

Exactly once across crashes: the file's tail says what was written before a crash.
"""
