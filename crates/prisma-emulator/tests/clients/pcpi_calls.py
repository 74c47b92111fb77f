"""Drives pcpi 1.0.1, unchanged, against the emulator: what pcpi does for CSPM is log in,
send requests with its x-redlock-auth header and retries, and refresh its token.

Configured only through pcpi's own environment variables (PRISMA_PCPI_URL, _ID, _SECRET,
_VERIFY = the emulator's CA file); the tunnel comes from HTTPS_PROXY. Any mismatch exits
non-zero. The last line of stdout is a JSON summary.
"""

import json
import sys

from pcpi import session_loader

SUBSCRIPTION = "5d000000-0000-4000-8000-0000000000c3"


def check(condition, what):
    if not condition:
        print("check failed: " + what, file=sys.stderr)
        sys.exit(1)


def main():
    manager = session_loader.load_config_env()
    session = manager.create_cspm_session()
    check(bool(session.token), "pcpi logged in")

    res = session.request("GET", "/cloud/group")
    check(res.status_code == 200, "GET /cloud/group: %s" % res.status_code)
    default_id = [g for g in res.json() if g["name"] == "Default Account Group"][0]["id"]

    res = session.request("POST", "/cloud/group", json={"name": "pcpi-team", "accountIds": []})
    check(res.status_code == 200 and res.json()["name"] == "pcpi-team", "group created")

    body = {
        "cloudAccount": {"accountId": SUBSCRIPTION, "accountType": "account", "enabled": True,
                         "name": "pcpi-subscription", "groupIds": [default_id]},
        "clientId": "c1000000-0000-4000-8000-0000000000c3",
        "key": "pcpi-client-secret",
        "tenantId": "7e000000-0000-4000-8000-0000000000c3",
        "servicePrincipalId": "5e000000-0000-4000-8000-0000000000c3",
        "environmentType": "azure",
    }
    res = session.request("POST", "/cas/v1/azure_account", json=body)
    check(res.status_code == 200, "CAS add: %s %s" % (res.status_code, res.text))
    res = session.request("GET", "/cloud/name", params={"cloudType": "azure"})
    check(any(n["id"] == SUBSCRIPTION for n in res.json()), "cloud/name lists the account")

    before = session.token
    session._api_refresh_wrapper()
    check(bool(session.token), "pcpi refreshed its token")
    res = session.request("GET", "/cloud")
    check(res.status_code == 200, "requests keep working after the refresh")
    print(json.dumps({"ok": True, "refreshed": session.token != before}))


if __name__ == "__main__":
    main()
