#!/usr/bin/python3
"""tests/e2e/lib/sim.py — reads the bundled AutoDNS simulator's inspection endpoint
GET /_simulator/orders (every certificate order it received: task, name, ctid, job and
certificate ids, status, has_csr, transport, received_at) for the e2e run. Standard library only.

  orders --port P [--name ADDRESS]
      prints the number of billable orders (every task except those the simulator REJECTED with an
      E... answer), for one address or all; exits 1 if any order came without a CSR, since the
      product must generate every key locally and never let the CA hold it.
"""

import argparse
import json
import sys
import urllib.request


def fetch_orders(port):
    url = f"http://127.0.0.1:{port}/_simulator/orders"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.load(resp)
    except (OSError, ValueError) as err:
        print(f"sim.py: GET {url} failed: {err}", file=sys.stderr)
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("orders")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name")
    args = parser.parse_args()

    orders = fetch_orders(args.port)
    if not isinstance(orders, list):
        print("sim.py: /_simulator/orders did not return a JSON array", file=sys.stderr)
        sys.exit(1)
    without_csr = [o.get("name") for o in orders if o.get("status") != "REJECTED" and not o.get("has_csr")]
    if without_csr:
        print(f"sim.py: orders without a CSR (the CA would hold the key): {without_csr}", file=sys.stderr)
        sys.exit(1)
    billable = [
        o for o in orders
        if o.get("status") != "REJECTED" and (args.name is None or o.get("name") == args.name)
    ]
    print(len(billable))


if __name__ == "__main__":
    main()
