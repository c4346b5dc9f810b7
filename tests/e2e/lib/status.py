#!/usr/bin/python3
"""tests/e2e/lib/status.py — reads `smime-provisioner status --json` (on stdin) for the e2e run.

  count           prints how many mailboxes the product knows
  stage ADDRESS   prints the stage of ADDRESS's record (empty line if the product has none)

The JSON is either an array of mailbox objects or an object holding such an array; a mailbox
object names its address in "address" and its stage in "stage" (or "state").
"""

import json
import sys


def records(doc):
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return value
        if "address" in doc:
            return [doc]
    print("status.py: status --json gave no list of mailboxes", file=sys.stderr)
    sys.exit(1)


def main():
    try:
        doc = json.load(sys.stdin)
    except ValueError as err:
        print(f"status.py: status --json is not JSON: {err}", file=sys.stderr)
        sys.exit(1)
    recs = records(doc)
    if sys.argv[1:] == ["count"]:
        print(len(recs))
    elif len(sys.argv) == 3 and sys.argv[1] == "stage":
        for rec in recs:
            if rec.get("address") == sys.argv[2]:
                print(rec.get("stage", rec.get("state", "")))
                return
        print("")
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
