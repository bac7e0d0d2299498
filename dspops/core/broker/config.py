"""Where a Gateway connects and as whom: GatewayConfig (host, port, client id, read-only, and the
connect and request timeouts), built from the settings for a role (web, worker, shell, test),
each role with its own client id. Also the rule that decides simulated data: every account id
starts with "SIM".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

__all__ = ["GatewayConfig", "ROLES", "is_simulated_account"]

ROLES = ("web", "worker", "shell", "test")


@dataclass(frozen=True)
class GatewayConfig:
    host: str
    port: int
    client_id: int
    readonly: bool = True
    connect_timeout: float = 10.0
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.request_timeout <= 0:
            raise ValueError("GatewayConfig timeouts must be positive seconds")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_settings(cls, role: str) -> GatewayConfig:
        """Build from django.conf.settings (IB_HOST, IB_PORT, IB_CLIENT_ID + offset for `role`)."""
        from django.conf import settings  # lazy: the gateway itself does not need Django

        offsets = settings.IB_CLIENT_ID_OFFSETS
        if role not in offsets:
            raise ValueError(
                f"unknown gateway role {role!r}; IB_CLIENT_ID_OFFSETS defines {sorted(offsets)}"
            )
        return cls(
            host=settings.IB_HOST,
            port=int(settings.IB_PORT),
            client_id=int(settings.IB_CLIENT_ID) + int(offsets[role]),
            readonly=bool(settings.IB_READONLY),
            connect_timeout=float(settings.IB_CONNECT_TIMEOUT),
            request_timeout=float(settings.IB_REQUEST_TIMEOUT),
        )


def is_simulated_account(accounts: Iterable[str]) -> bool:
    """True iff there is at least one account and every id starts with "SIM"."""
    accounts = list(accounts)
    return bool(accounts) and all(a.startswith("SIM") for a in accounts)
