"""SQLite state: schema and migrations, layout/pane/agent records, the event outbox.

Every state change is one `BEGIN IMMEDIATE` transaction that also writes its event.
"""
