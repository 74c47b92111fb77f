"""A peer client doing the bench's onboardings: status check, add, read back.

  python peer.py --client sdk|naive --url URL --access-key ID [--threads N]

The secret key comes from BENCH_SECRET_KEY; the accounts (one JSON object a line:
{"account_id", "body"}) from stdin. Prints one JSON object: succeeded, failures, wall_s,
first_failure.

* sdk: the official Python SDK, prismacloud-api (pinned by bench/peers/setup), unchanged. Its
  configure() only takes *.prismacloud.io names, so the emulator's host:port is set on its `api`
  attribute; it always speaks https, so the emulator runs with --tls (verify off). The onboarding
  uses its own calls: execute() for the status check (it has no wrapper for it),
  cloud_accounts_create and cloud_account_info_read; its own retry loop (1, 2, 4 … 32 s on
  425/429/5xx, no Retry-After, exceptions not retried). Threads: its default pool size, 8.
* naive: a plain `requests` loop, as a script written in an afternoon would be — one account
  after the other, every call retried on 429/5xx or a connection error after a fixed 1 s sleep,
  up to 10 times; any other error fails the account.
"""

import argparse
import concurrent.futures
import json
import os
import re
import sys
import time

import requests


def naive(url, key, secret, accounts, _threads):
    session = requests.Session()

    def call(method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["x-redlock-auth"] = token
        for _ in range(10):
            try:
                r = session.request(method, url + path, json=body, headers=headers, timeout=30)
            except requests.RequestException:
                time.sleep(1)
                continue
            if r.status_code == 429 or r.status_code >= 500:
                time.sleep(1)
                continue
            r.raise_for_status()
            return r.json() if r.content else None
        raise RuntimeError("gave up after 10 tries: %s %s" % (method, path))

    token = call("POST", "/login", {"username": key, "password": secret})["token"]
    results = []
    for a in accounts:
        try:
            call("POST", "/cas/v1/cloud_account/status/azure", a["body"], token)
            call("POST", "/cas/v1/azure_account?skipStatusChecks=true", a["body"], token)
            call("GET", "/v1/cloudAccounts/azureAccounts/%s" % a["account_id"], None, token)
            results.append(None)
        except Exception as e:  # noqa: BLE001 - a naive script stops the account on anything
            results.append(str(e)[:200])
    return results


def sdk(url, key, secret, accounts, threads):
    from prismacloud.api import pc_api

    pc_api.configure({"url": "", "identity": key, "secret": secret, "verify": False})
    pc_api.api = url.split("://", 1)[1]
    pc_api.login()

    def onboard(a):
        try:
            pc_api.execute("POST", "cloud/status/azure", body_params=a["body"])
            pc_api.cloud_accounts_create("azure", a["body"])
            pc_api.cloud_account_info_read("azure", a["account_id"])
            return None
        except BaseException as e:  # noqa: BLE001 - the SDK raises SystemExit on errors
            return str(e)[:200]

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(onboard, accounts))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--client", choices=["sdk", "naive"], required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--threads", type=int, default=8)
    args = p.parse_args()
    secret = os.environ["BENCH_SECRET_KEY"]
    accounts = [json.loads(line) for line in sys.stdin if line.strip()]
    run = {"sdk": sdk, "naive": naive}[args.client]
    started = time.monotonic()
    results = run(args.url, args.access_key, secret, accounts, args.threads)
    wall = time.monotonic() - started
    # The SDK's errors quote the request body, Azure key included: never print it.
    failures = [re.sub(r'("key"\s*:\s*")[^"]*', r"\1***", r).replace(secret, "***")
                for r in results if r is not None]
    print(json.dumps({
        "succeeded": len(results) - len(failures),
        "failures": len(failures),
        "wall_s": round(wall, 3),
        "first_failure": failures[0] if failures else None,
    }))


if __name__ == "__main__":
    main()
