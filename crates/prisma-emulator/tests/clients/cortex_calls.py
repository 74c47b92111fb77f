"""Drives cortex-xdr-client 2.0.0, unchanged, against the emulator's Cortex Cloud face.

Environment: CORTEX_FQDN (the console host; the client prepends "api-"), CORTEX_KEY_ID,
CORTEX_KEY (never printed), CORTEX_KEY_TYPE (standard | advanced), CORTEX_TENANT_ID (an
approved tenant), CORTEX_INSTANCE_ID (a connected instance with accounts). HTTPS_PROXY and
REQUESTS_CA_BUNDLE route the client to the emulator. Prints one JSON object per step.
"""
import json
import os
import sys

from cortex_xdr_client.api.authentication import Authentication, AuthenticationType
from cortex_xdr_client.api.version import APIVersion
from cortex_xdr_client.client import CortexXDRClient


def emit(step, value):
    print(json.dumps({"step": step, "reply": value}), flush=True)


def main():
    key_type = {"standard": AuthenticationType.STANDARD,
                "advanced": AuthenticationType.ADVANCED}[os.environ["CORTEX_KEY_TYPE"]]
    auth = Authentication(api_key=os.environ["CORTEX_KEY"],
                          api_key_id=int(os.environ["CORTEX_KEY_ID"]), auth_type=key_type)
    client = CortexXDRClient(auth=auth, fqdn=os.environ["CORTEX_FQDN"], api_version=APIVersion.V5)
    api = client.cloud_onboarding_api
    instance = os.environ["CORTEX_INSTANCE_ID"]

    emit("approved_tenants", api.post_get_azure_approved_tenants(cloud_partition="COMMERCIAL"))
    emit("instances", api.post_get_instances(filter_data={
        "filter": {"AND": [{"SEARCH_FIELD": "CLOUD_PROVIDER", "SEARCH_TYPE": "EQ",
                            "SEARCH_VALUE": "AZURE"}]},
        "sort": [{"FIELD": "CREATION_TIME", "ORDER": "DESC"}],
        "paging": {"from": 0, "to": 100}}))
    emit("details", api.post_get_instance_details(id=instance))
    accounts = api.post_get_accounts(instance_id=instance,
                                     filter_data={"paging": {"from": 0, "to": 100}})
    emit("accounts", accounts)
    first = accounts["reply"]["DATA"][0]
    account = first.get("cloud_account_id") or first["account_id"]
    emit("disable_account", api.post_enable_disable_account(enable=False, ids=[account],
                                                            instance_id=instance))
    emit("accounts_after_disable", api.post_get_accounts(instance_id=instance, filter_data={
        "filter": {"AND": [{"SEARCH_FIELD": "CLOUD_ACCOUNT_ID", "SEARCH_TYPE": "EQ",
                            "SEARCH_VALUE": account}]},
        "paging": {"from": 0, "to": 100}}))
    emit("enable_account", api.post_enable_disable_account(enable=True, ids=[account],
                                                           instance_id=instance))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # the test reads the failure from stderr
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
