"""The webhook API's errors, in the notifier's hierarchy (one handler turns each into ``{"detail"}``)."""

from __future__ import annotations

from ferry_notifier.errors import NotifierError


class WebhookNotFound(NotifierError):
    """No such endpoint, or one the caller may not manage (never a 403: its existence is not told)."""

    status_code = 404
    default_detail = "webhook not found"


class DeliveryNotFound(NotifierError):
    status_code = 404
    default_detail = "delivery not found"


class NotAllowed(NotifierError):
    """The caller is a member of the organization but not one who manages its webhooks."""

    status_code = 403
    default_detail = "only admins and owners of the organization manage its webhooks"


class WebhookConflict(NotifierError):
    """The request is sound but the state does not allow it (a limit reached, a disabled endpoint)."""

    status_code = 409
    default_detail = "conflict"


class InvalidWebhook(NotifierError):
    """A URL the notifier will not call (the reason says why)."""

    status_code = 422
    default_detail = "invalid webhook"
