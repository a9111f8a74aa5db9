"""The outside party of the tests: see sjukfall/inbox.py."""

from sjukfall.inbox import WebhookReceiver as Receiver

__all__ = ["Receiver"]
