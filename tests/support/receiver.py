"""The outside party of the tests: see infra/inbox.py."""

from infra.inbox import WebhookReceiver as Receiver

__all__ = ["Receiver"]
