"""The HubSpot side of the connector: transport (`client`), extraction (`extract`), pure
payload -> model functions (`normalize`), email identity (`identity`) and form rules
(`forms`)."""

from connectors.hubspot.client import HubSpotClient, Outcome, classify_status
from connectors.hubspot.extract import HubSpotSource
from connectors.hubspot.forms import FormRule, FormRules
from connectors.hubspot.normalize import Problem, Skipped
from core.identity import EmailCheck, normalise_email, parse_email

__all__ = [
    "EmailCheck",
    "FormRule",
    "FormRules",
    "HubSpotClient",
    "HubSpotSource",
    "Outcome",
    "Problem",
    "Skipped",
    "classify_status",
    "normalise_email",
    "parse_email",
]
