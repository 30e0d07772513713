"""A local SMTP server that keeps what it receives: where the shop's worker sends its emails
during the drop, so the bench counts delivered emails as a mail server would see them."""

from __future__ import annotations

import email
import email.policy
import threading
from collections import Counter

from bench.server import free_port


class MailSink:
    """`with MailSink() as sink:` an SMTP server on 127.0.0.1:sink.port (aiosmtpd, in a thread).

    `sink.received` lists each accepted message's To, Subject and Message-ID."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._controller = None

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append(
                {
                    "to": str(message.get("To", "")).strip().lower(),
                    "subject": str(message.get("Subject", "")),
                    "message_id": str(message.get("Message-ID", "")),
                }
            )
        return "250 Message accepted"

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def per_recipient(self) -> Counter:
        with self._lock:
            return Counter(m["to"] for m in self.received)

    def __enter__(self) -> MailSink:
        from aiosmtpd.controller import Controller  # a dev dependency, only needed here

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._controller is not None:
            self._controller.stop()
