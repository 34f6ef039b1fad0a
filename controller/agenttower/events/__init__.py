"""The audit trail: FEAT-013 event types, the event each outbox row holds, and the JSONL
file written from the outbox exactly once across crashes.
"""
