"""The chat service's request body limits (enforced by :class:`parley.core.app.BodyLimitMiddleware`).

A message may carry one image of at most 5 MB, with room for the form around it; every other
route takes small JSON bodies.
"""

from __future__ import annotations

from parley.core.media.images import MAX_IMAGE_BYTES

# Room for the multipart framing and the other fields (4000 characters of text, a clientId …).
FORM_ALLOWANCE = 64 * 1024
MESSAGE_BODY_LIMIT = MAX_IMAGE_BYTES + FORM_ALLOWANCE
DEFAULT_BODY_LIMIT = 256 * 1024
MESSAGE_ROUTE = ("POST", "/api/v1/message")
ROUTE_LIMITS = {MESSAGE_ROUTE: MESSAGE_BODY_LIMIT}
ROUTE_MESSAGES = {MESSAGE_ROUTE: "The request is too large: images can be at most 5 MB"}
