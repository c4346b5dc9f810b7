#!/usr/bin/python3
"""tests/e2e/lib/vmail.py — the run's mailbox table, shaped like PostfixAdmin's `mailbox` table,
which Postfix reads per query through sqlite_table(5).

  create DB          creates the table
  add DB ADDRESS     adds an active mailbox; its maildir is {domain}/{local}/ under
                     virtual_mailbox_base (the trailing / makes Postfix write Maildir)
"""

import sqlite3
import sys


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "create":
        db = sqlite3.connect(sys.argv[2])
        db.execute(
            "CREATE TABLE mailbox (username TEXT PRIMARY KEY, maildir TEXT NOT NULL,"
            " local_part TEXT NOT NULL, domain TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1)"
        )
    elif len(sys.argv) == 4 and sys.argv[1] == "add":
        db = sqlite3.connect(sys.argv[2])
        local, _, domain = sys.argv[3].rpartition("@")
        if not local or not domain:
            print(f"vmail.py: {sys.argv[3]!r} is not local@domain", file=sys.stderr)
            sys.exit(2)
        db.execute(
            "INSERT INTO mailbox (username, maildir, local_part, domain) VALUES (?, ?, ?, ?)",
            (sys.argv[3], f"{domain}/{local}/", local, domain),
        )
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
