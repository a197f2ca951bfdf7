"""Reading RFC 5277 notifications with ncclient's take_notification, for the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lxml import etree


def take_events(session: Any, count: int, timeout: float = 15.0,
                keep: Callable[[etree._Element], bool] = lambda _: True,
                ) -> list[etree._Element]:
    """The event elements (what follows eventTime) of the next notifications that ``keep``
    accepts, until there are ``count``; fails after ``timeout`` seconds."""
    found: list[etree._Element] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        left = deadline - time.monotonic()
        assert left > 0, [etree.QName(e).localname for e in found]
        notification = session.take_notification(block=True, timeout=left)
        assert notification is not None, [etree.QName(e).localname for e in found]
        found.extend(e for e in notification.notification_ele
                     if etree.QName(e).localname != "eventTime" and keep(e))
    return found
