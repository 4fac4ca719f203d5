"""A faithful in-process HubSpot API sandbox, driven by the real `hubspot-api-client`.

    from sandbox.hubspot import HubSpotSandbox, DEFAULT_HUBSPOT_TOKEN, TIERS
    sb = HubSpotSandbox(token=DEFAULT_HUBSPOT_TOKEN, tier="pro")
    sb.seed({"contacts": [...], "companies": [...], "associations": [...]})
    server = RunningServer(sb.app, port=0).start()
    client = HubSpot(access_token=DEFAULT_HUBSPOT_TOKEN, host=server.url, base_url=server.url)

`DEFAULT_HUBSPOT_TOKEN` ("pat-sandbox-hubspot-token") is the bearer token the sandbox accepts
unless another is given; anything else answers 401.
"""

from sandbox.hubspot.constants import DEFAULT_HUBSPOT_TOKEN, TIERS, Tier
from sandbox.hubspot.server import HubSpotSandbox, SandboxStore

__all__ = ["DEFAULT_HUBSPOT_TOKEN", "TIERS", "HubSpotSandbox", "SandboxStore", "Tier"]
