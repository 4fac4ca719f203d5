"""The Salesforce side of the connector: auth, a typed REST client, identity matching, writes."""

from .auth import SalesforceSession, authenticate, jwt_assertion, make_http_session
from .client import BulkJobResult, RecordResult, SalesforceClient
from .identity import Match, MatchReport, match_emails
from .writer import apply, bulk_upsert_leads, created_lead_ids, write_records, write_tasks

__all__ = [
    "BulkJobResult",
    "Match",
    "MatchReport",
    "RecordResult",
    "SalesforceClient",
    "SalesforceSession",
    "apply",
    "authenticate",
    "bulk_upsert_leads",
    "created_lead_ids",
    "jwt_assertion",
    "make_http_session",
    "match_emails",
    "write_records",
    "write_tasks",
]
