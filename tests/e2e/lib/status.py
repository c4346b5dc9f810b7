#!/usr/bin/python3
"""tests/e2e/lib/status.py — reads `smime-provisioner status --json` (on stdin) for the e2e run.

  count                 prints how many mailboxes the product knows
  field ADDRESS NAME    prints field NAME of ADDRESS's row (booleans as true/false; an empty line
                        when the product has no row for ADDRESS)

`status --json` prints a versioned document (docs/status-json.md): {"version": 1, "mailboxes":
[rows], ...}, each row a pipeline::status::StatusRow (address, stage, status, failed, present,
generation, expires, renews, ...); one row when asked about one address.
"""

import json
import sys


def rows(doc):
    if isinstance(doc, dict) and doc.get("version") == 1 and isinstance(doc.get("mailboxes"), list):
        return doc["mailboxes"]
    print("status.py: status --json printed no version 1 document", file=sys.stderr)
    sys.exit(1)


def main():
    try:
        doc = json.load(sys.stdin)
    except ValueError as err:
        print(f"status.py: status --json is not JSON: {err}", file=sys.stderr)
        sys.exit(1)
    recs = rows(doc)
    if sys.argv[1:] == ["count"]:
        print(len(recs))
    elif len(sys.argv) == 4 and sys.argv[1] == "field":
        for rec in recs:
            if rec.get("address") == sys.argv[2]:
                value = rec.get(sys.argv[3])
                print(json.dumps(value) if isinstance(value, bool) or value is None else value)
                return
        print("")
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
