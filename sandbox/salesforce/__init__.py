"""A faithful Salesforce REST API sandbox, served over TLS to the real simple-salesforce.

    from sandbox.salesforce import SalesforceSandbox, DEFAULT_SALESFORCE_SESSION, JwtTrust

    sb = SalesforceSandbox(session_id=DEFAULT_SALESFORCE_SESSION, faults=FaultPlan())
    server = RunningServer(sb.app, tls=cert.server_context(), max_uri_bytes=16384).start()
    sb.instance_url = server.url
    sb.seed({"Lead": [{"LastName": "Doe", "Company": "Acme", "Email": "jo@acme.test"}]})

`DEFAULT_SALESFORCE_SESSION` ("00DSANDBOX0000001!sandbox-session") is accepted as a bearer
token from the start; the token endpoint issues further sessions.
"""

from sandbox.salesforce.oauth import JwtTrust
from sandbox.salesforce.org import DuplicateRule, OrgSettings
from sandbox.salesforce.schema import Schema
from sandbox.salesforce.server import DEFAULT_SALESFORCE_SESSION, SalesforceSandbox

__all__ = [
    "DEFAULT_SALESFORCE_SESSION",
    "DuplicateRule",
    "JwtTrust",
    "OrgSettings",
    "SalesforceSandbox",
    "Schema",
]
