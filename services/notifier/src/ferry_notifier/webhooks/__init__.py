"""Outgoing webhooks: endpoints users register, and signed deliveries of their organization's events.

- ``endpoints``: the ``webhook_endpoints`` collection (secrets, rotation, failing state);
- ``routes``: ``/webhooks`` (register, list, update, disable, delete, rotate, test, deliveries, resend);
- ``signing``: Standard Webhooks headers;
- ``ssrf``: which URLs and resolved addresses may be called;
- ``deliveries``: the ``webhook_deliveries`` collection (one per event and endpoint, with its attempts);
- ``matching``: the consumer that turns an event into deliveries;
- ``sender``: the consumer that posts one attempt and schedules the next through a delay queue.

docs/DECISIONS.md, "Webhooks", is the design.
"""
