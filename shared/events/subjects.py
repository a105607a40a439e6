"""Subject and stream names. A namespace prefix isolates test runs sharing one NATS server."""

from __future__ import annotations

from dataclasses import dataclass

SERVICES = ("intake", "dispatch", "parts", "reporting")


@dataclass(frozen=True)
class Names:
    namespace: str = ""

    def _subject(self, subject: str) -> str:
        return f"{self.namespace}.{subject}" if self.namespace else subject

    def _stream(self, stream: str) -> str:
        return f"{self.namespace.upper()}_{stream}" if self.namespace else stream

    # --- inbound (docs/contract.md §1)
    @property
    def complaint_received(self) -> str:
        return self._subject("telephony.complaint.received")

    @property
    def survey_completed(self) -> str:
        return self._subject("telephony.survey.completed")

    @property
    def telephony_all(self) -> str:
        return self._subject("telephony.>")

    @property
    def telephony_stream(self) -> str:
        return self._stream("TELEPHONY")

    # --- dead letters
    def deadletter(self, source: str) -> str:
        return self._subject(f"aftersales.deadletter.{source}")

    @property
    def deadletter_all(self) -> str:
        return self._subject("aftersales.deadletter.>")

    @property
    def deadletter_stream(self) -> str:
        return self._stream("AFTERSALES_DEADLETTER")

    # --- clock (docs/contract.md §2)
    @property
    def clock_tick(self) -> str:
        return self._subject("aftersales.clock.tick")

    @property
    def clock_stream(self) -> str:
        return self._stream("AFTERSALES_CLOCK")

    # --- domain events (docs/contract.md §3), one stream per publishing service
    def event(self, service: str, event_type: str) -> str:
        return self._subject(f"aftersales.{service}.{event_type}")

    def events_of(self, service: str) -> str:
        return self._subject(f"aftersales.{service}.>")

    def events_stream(self, service: str) -> str:
        return self._stream(f"AFTERSALES_{service.upper()}")

    # --- signed chain checkpoints (shared/runtime/checkpoints.py), one subject per store
    def checkpoints(self, service: str) -> str:
        return self._subject(f"aftersales.checkpoints.{service}")

    @property
    def checkpoints_all(self) -> str:
        return self._subject("aftersales.checkpoints.>")

    @property
    def checkpoints_stream(self) -> str:
        return self._stream("AFTERSALES_CHECKPOINTS")

    # --- staff commands (request/reply, core NATS)
    def commands(self, service: str) -> str:
        return self._subject(f"aftersales.cmd.{service}")

    def durable(self, consumer: str) -> str:
        return f"{self.namespace}_{consumer}" if self.namespace else consumer

    def db_schema(self, service: str) -> str:
        return f"{self.namespace}_{service}" if self.namespace else service
