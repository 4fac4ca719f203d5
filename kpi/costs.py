"""`mappings/costs.toml`: what marketing spent per month and channel (or campaign), read and
validated with messages that name file:line. The only module of `kpi` that reads a file.

    currency = "JPY"

    [[cost]]
    month = "2026-09"             # YYYY-MM
    channel = "PAID_SEARCH"       # a HubSpot original source (hs_analytics_source) value
    campaign = "FA-Expo-2026"     # optional: spend of one campaign of that channel
    amount = 350000               # >= 0, in `currency`

A missing file means "no costs kept" (the report leaves the cost KPIs empty); a broken one
is a ConfigError listing every problem.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import ConfigError
from core.tomlfile import load_model, where
from kpi.model import CostEntry, Costs

COSTS_FILE = "costs.toml"

# HubSpot's original-source values (contact property `hs_analytics_source`).
CHANNELS: tuple[str, ...] = (
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "PAID_SOCIAL",
    "REFERRALS",
    "OTHER_CAMPAIGNS",
    "DIRECT_TRAFFIC",
    "OFFLINE",
    "AI_REFERRALS",
)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class _Cost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: str
    channel: str
    campaign: str | None = Field(default=None, min_length=1, max_length=200)
    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    note: str | None = None

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        if not _MONTH.match(value):
            raise ValueError(f'{value!r} is not a month; write YYYY-MM, e.g. "2026-09"')
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(
                f"{value!r} is not a HubSpot original source; expected one of "
                + ", ".join(CHANNELS)
            )
        return value


class _CostsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. JPY")
    cost: list[_Cost] = Field(default_factory=list)


def cost_problems(directory: Path) -> list[str]:
    """Every problem in `directory/costs.toml`, one `file:line: key: what` each; [] when it
    is valid or absent."""
    try:
        load_costs(directory)
    except ConfigError as exc:
        return exc.problems or [str(exc)]
    return []


def load_costs(directory: Path) -> Costs | None:
    """The costs of `directory/costs.toml`; None when the file does not exist."""
    path = directory / COSTS_FILE
    if not path.exists():
        return None
    parsed = load_model(path, _CostsFile)
    text = path.read_text(encoding="utf-8")
    seen: dict[tuple[str, str, str | None], int] = {}
    problems = []
    entries = []
    for index, item in enumerate(parsed.cost):
        key = (item.month, item.channel, item.campaign)
        here = where(path, text, ("cost", index, "month"))
        if key in seen:
            what = f"campaign {item.campaign!r} of " if item.campaign else ""
            problems.append(
                f"{here}: cost[{index}]: {what}{item.channel} in {item.month} is already "
                f"listed in cost[{seen[key]}]; add the amounts up in one entry"
            )
            continue
        seen[key] = index
        entries.append(CostEntry(item.month, item.channel, item.amount, item.campaign, here))
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s)", problems)
    return Costs(parsed.currency, tuple(entries))
