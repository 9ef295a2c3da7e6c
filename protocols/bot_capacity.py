"""What a bot process answers on `GET /dispatch/health`; the voice server reads the same model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class BotCapacity(BaseModel):
    status: Literal["ok"]
    sessions: int = Field(ge=0)  # sessions running in this process now
    cpu_percent: float = Field(ge=0)  # this process's CPU since the last reading (100 = a core)
    cpu_count: int = Field(ge=1)  # cores of the host
    load_average: float = Field(ge=0)  # the host's 1-minute load average

    def load(self) -> tuple[float, float]:
        """What "least loaded" compares: sessions per core, then the process's CPU per core."""
        return (self.sessions / self.cpu_count, self.cpu_percent / self.cpu_count)
