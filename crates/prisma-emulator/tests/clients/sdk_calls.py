"""Drives the official Python SDK (prismacloud-api 5.3.0), unchanged, against the emulator.

Run by tests/real_clients.rs with the SDK's virtualenv (scripts/python-clients), over https,
through the emulator's CONNECT proxy: PC_URL is a *.prismacloud.io host without a port, as the
SDK requires; HTTPS_PROXY and REQUESTS_CA_BUNDLE come from the environment.

Covers configure() with its defaults (it calls GET /meta_info), every cloud_account*,
cloud_account_group*, cloud_types* and cloud_account_info* call, the children listing, and a
token extend. The bodies are the ones the SDK's own Azure import and account-group scripts
send: the legacy nested body to POST /cloud/azure (no cloudAccount.accountType, no
environmentType), account groups with name/description/accountIds. Any mismatch raises, so the
process exits non-zero and the Rust test fails. The last line of stdout is a JSON summary.
"""

import json
import os
import sys

from prismacloud.api import pc_api

SUBSCRIPTION = "5d000000-0000-4000-8000-0000000000a1"
TENANT = "7e000000-0000-4000-8000-0000000000a1"
ORG_TENANT = "7e000000-0000-4000-8000-0000000000b2"
CLIENT = "c1000000-0000-4000-8000-0000000000a1"
SP = "5e000000-0000-4000-8000-0000000000a1"
SECRET = os.environ["SDK_CANARY_CLIENT_SECRET"]


def check(condition, what):
    if not condition:
        raise SystemExit("check failed: " + what)


def by_id(items, key, value):
    found = [i for i in items if i.get(key) == value]
    check(len(found) == 1, "exactly one %s=%s in %s" % (key, value, items))
    return found[0]


def main():
    pc_api.configure(
        {
            "url": os.environ["PC_URL"],
            "identity": os.environ["PC_IDENTITY"],
            "secret": os.environ["PC_SECRET"],
        }
    )
    check(pc_api.token, "configure() logged in (meta_info needs a token)")
    check(pc_api.api == os.environ["PC_URL"], "the CSPM API host is the one given")
    check(pc_api.api_compute == "", "no Compute console: meta_info has no twistlockUrl")

    types = pc_api.cloud_types_list_read()
    check("azure" in types, "cloud types include azure: %s" % types)

    groups = pc_api.cloud_account_group_list_read()
    default = [g for g in groups if g["name"] == "Default Account Group"]
    check(len(default) == 1, "the Default Account Group exists")
    default_id = default[0]["id"]

    created = pc_api.cloud_account_group_create(
        {"name": "sdk-team", "description": "made by the SDK", "accountIds": []}
    )
    group_id = created["id"]
    check(created["name"] == "sdk-team", "the created group comes back")
    check(pc_api.cloud_account_group_read(group_id)["description"] == "made by the SDK", "group read by id")

    # The import script's body: legacy, nested, no accountType, no environmentType.
    pc_api.cloud_accounts_create(
        "azure",
        {
            "cloudAccount": {
                "accountId": SUBSCRIPTION,
                "enabled": True,
                "groupIds": [default_id, group_id],
                "name": "sdk-subscription",
            },
            "clientId": CLIENT,
            "key": SECRET,
            "monitorFlowLogs": False,
            "tenantId": TENANT,
            "servicePrincipalId": SP,
        },
    )
    listed = by_id(pc_api.cloud_accounts_list_read(), "accountId", SUBSCRIPTION)
    check(listed["name"] == "sdk-subscription", "listed by name")
    check(listed["protectionMode"] == "MONITOR", "protectionMode read back: %s" % listed)
    check(listed["lastModifiedBy"] == os.environ["PC_IDENTITY"], "lastModifiedBy is the access key")
    check(listed["deploymentType"] == "azure", "a body without environmentType is commercial Azure")
    names = pc_api.cloud_accounts_list_names_read({"cloudType": "azure"})
    check(by_id(names, "id", SUBSCRIPTION)["name"] == "sdk-subscription", "cloud/name lists it")

    info = pc_api.cloud_account_info_read("azure", SUBSCRIPTION)
    check(info["cloudAccount"]["accountType"] == "account", "no accountType means a subscription")
    check(set(info["key"]) == {"*"}, "the key is read back masked")
    check(SECRET not in json.dumps(info), "the secret never comes back")

    # Update what was read (masked key and all): rename, Remediation on via protectionMode.
    update = {
        "cloudAccount": {
            "accountId": SUBSCRIPTION,
            "enabled": True,
            "groupIds": [default_id],
            "name": "sdk-subscription-renamed",
            "protectionMode": "MONITOR_AND_PROTECT",
        },
        "clientId": info["clientId"],
        "key": info["key"],
        "monitorFlowLogs": info["monitorFlowLogs"],
        "tenantId": info["tenantId"],
        "servicePrincipalId": info["servicePrincipalId"],
    }
    pc_api.cloud_account_update("azure", SUBSCRIPTION, update)
    info = pc_api.cloud_account_info_read("azure", SUBSCRIPTION)
    check(info["cloudAccount"]["name"] == "sdk-subscription-renamed", "update renamed it")
    check(info["cloudAccount"]["protectionMode"] == "MONITOR_AND_PROTECT", "protectionMode kept")

    # The group scripts' update: move the group onto the account; then read it with accounts.
    pc_api.cloud_account_group_update(
        group_id, {"name": "sdk-team-2", "description": "renamed", "accountIds": [SUBSCRIPTION]}
    )
    group = pc_api.cloud_account_group_read(group_id)
    check(group["name"] == "sdk-team-2" and group["accountIds"] == [SUBSCRIPTION], "group replaced: %s" % group)
    check(group["accounts"][0]["name"] == "sdk-subscription-renamed", "group read lists its accounts")

    # A tenant with management groups (legacy body), then its children.
    pc_api.cloud_accounts_create(
        "azure",
        {
            "cloudAccount": {"accountType": "tenant", "enabled": True, "name": "sdk-org"},
            "clientId": CLIENT,
            "key": SECRET,
            "tenantId": ORG_TENANT,
            "servicePrincipalId": SP,
            "environmentType": "azure",
            "rootSyncEnabled": True,
            "defaultAccountGroupId": default_id,
            "hierarchySelection": [
                {"resourceId": ORG_TENANT, "displayName": "Tenant Root Group", "nodeType": "TENANT", "selectionType": "ALL"}
            ],
        },
    )
    children = pc_api.cloud_accounts_children_list_read("azure", ORG_TENANT)
    check(len(children) == 6, "six child subscriptions: %d" % len(children))
    check(all(c["parentAccountId"] == ORG_TENANT for c in children), "children name their parent")

    # An extend: the SDK extends once its token is older than token_limit.
    before = pc_api.token
    pc_api.token_timer -= pc_api.token_limit + 1
    pc_api.cloud_types_list_read()
    check(pc_api.token and pc_api.token != before, "the token was extended")

    # Offboarding: the group cannot go while it holds an account (409); then both go.
    try:
        pc_api.cloud_account_group_delete(group_id)
        raise AssertionError("a group with an account was deleted")
    except SystemExit as refused:
        check("Status Code: 409" in str(refused), "refused with 409: %s" % refused)
    pc_api.cloud_account_delete("azure", SUBSCRIPTION)
    pc_api.cloud_account_group_delete(group_id)
    check(all(g["id"] != group_id for g in pc_api.cloud_account_group_list_read()), "group deleted")
    check(all(a["accountId"] != SUBSCRIPTION for a in pc_api.cloud_accounts_list_read()), "account deleted")

    print(json.dumps({"ok": True, "children": len(children), "group": group_id}))


if __name__ == "__main__":
    try:
        main()
    except SystemExit as e:
        print(e, file=sys.stderr)
        sys.exit(1)
