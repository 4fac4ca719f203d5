"""Salesforce endpoints, limits and field names the adapter relies on, in one place."""

from __future__ import annotations

# --- auth
TOKEN_PATH = "/services/oauth2/token"
JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180  # Salesforce accepts an assertion for at most 3 minutes

# --- REST paths, relative to /services/data/vNN.N/
COLLECTIONS_PATH = "composite/sobjects"
COMPOSITE_PATH = "composite"
QUERY_JOBS_PATH = "jobs/query"
LIMITS_PATH = "limits/"
INGEST_PATH = "jobs/ingest"

# --- limits
COLLECTION_BATCH_SIZE = 200  # sObject Collections: records per call
MAX_URI_BYTES = 16_384  # longer request lines are answered 414
QUERY_URL_BUDGET = 12_000  # what identity matching aims for per GET (headroom under 16 KB)
# Composite: 25 subrequests a call, of which at most 5 may be query or sObject Collections
# subrequests; the whole call counts as one API request.
COMPOSITE_HEAVY_LIMIT = 5

# --- Bulk API 2.0
BULK_THRESHOLD = 10_000  # Lead creates at or above this go through Bulk API 2.0
BULK_POLL_SECONDS = 2.0
BULK_TIMEOUT_SECONDS = 3_600.0
BULK_NULL = "#N/A"  # Bulk API CSV value that sets a field to null
BULK_POLL_MAX_SECONDS = 60.0  # polls back off (x2) from BULK_POLL_SECONDS up to this
BULK_UPLOAD_MAX_BYTES = 100 * 1024 * 1024  # one job's CSV; Salesforce refuses uploads > 150 MB
BULK_QUERY_PAGE_RECORDS = 500_000  # maxRecords per results page of a query job

# --- field names of this org's connector setup
LEAD_EXTERNAL_ID_FIELD = "HubSpot_Contact_Id__c"
TASK_EXTERNAL_ID_FIELD = "Connector_Key__c"

# --- the response header that reports the org's daily API usage
LIMIT_INFO_HEADER = "Sforce-Limit-Info"
# --- the request header that lets writes through duplicate rules whose action is Alert
# (REST API Developer Guide, "Duplicate Rule Header", API 52.0+; default allowSave=false)
DUPLICATE_RULE_HEADER = "Sforce-Duplicate-Rule-Header"
