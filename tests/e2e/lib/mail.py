#!/usr/bin/python3
"""tests/e2e/lib/mail.py — the e2e run's mail client: sends over SMTP, fetches over IMAP, and takes
fetched messages apart (attachments, bodies). Standard library only (smtplib RFC 5321, imaplib
RFC 3501, email RFC 5322/2045), so it runs under Debian's /usr/bin/python3 on a fresh machine.

Subcommands (each exits non-zero with a one-line reason on failure):
  send     --port P --sender A --to B --subject S [--body TEXT | --body-file F]
           [--attach FILE --attach-type TYPE/SUBTYPE --attach-name NAME] [--after-ehlo CMD]
           --after-ehlo runs a shell command inside the open session, before MAIL FROM
  fetch    --port P --user U --password-file F --out DIR [--min N] [--timeout SECONDS]
           waits until INBOX holds at least N messages, writes each as DIR/<uid>.eml, prints count
  attachment --eml FILE --out FILE [--content-type TYPE]   writes the one matching attachment
  subject  --eml FILE                                      prints the decoded Subject
  body     --eml FILE [--all]     prints the text/plain body; with --all every decoded text part
"""

import argparse
import email
import email.policy
import imaplib
import os
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage


def fail(message):
    print(f"mail.py: {message}", file=sys.stderr)
    sys.exit(1)


def cmd_send(args):
    msg = EmailMessage()
    msg["From"] = args.sender
    msg["To"] = args.to
    msg["Subject"] = args.subject
    msg["Message-ID"] = email.utils.make_msgid(domain="e2e.test")
    msg["Date"] = email.utils.formatdate(localtime=False)
    if args.body_file:
        with open(args.body_file, encoding="utf-8") as f:
            msg.set_content(f.read())
    else:
        msg.set_content(args.body)
    if args.attach:
        maintype, _, subtype = args.attach_type.partition("/")
        with open(args.attach, "rb") as f:
            msg.add_attachment(f.read(), maintype=maintype, subtype=subtype, filename=args.attach_name)
    try:
        with smtplib.SMTP("127.0.0.1", args.port, timeout=30) as smtp:
            smtp.ehlo()
            if args.after_ehlo:
                subprocess.run(args.after_ehlo, shell=True, check=True)
            refused = smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as err:
        fail(f"recipient refused: {err.recipients}")
    except subprocess.CalledProcessError as err:
        fail(f"--after-ehlo command failed: {err}")
    except (OSError, smtplib.SMTPException) as err:
        fail(f"SMTP to 127.0.0.1:{args.port} failed: {err}")
    if refused:
        fail(f"recipients refused: {refused}")


def imap_login(port, user, password):
    try:
        imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
        imap.login(user, password)
    except (OSError, imaplib.IMAP4.error) as err:
        fail(f"IMAP login as {user} on 127.0.0.1:{port} failed: {err}")
    return imap


def cmd_fetch(args):
    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().strip()
    deadline = time.monotonic() + args.timeout
    while True:
        imap = imap_login(args.port, args.user, password)
        try:
            typ, _ = imap.select("INBOX", readonly=True)
            if typ != "OK":
                fail(f"SELECT INBOX failed for {args.user}")
            typ, data = imap.uid("SEARCH", None, "ALL")
            if typ != "OK":
                fail(f"UID SEARCH failed for {args.user}")
            uids = data[0].split()
            if len(uids) >= args.min:
                os.makedirs(args.out, exist_ok=True)
                for uid in uids:
                    typ, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                    if typ != "OK" or not parts or not isinstance(parts[0], tuple):
                        fail(f"UID FETCH {uid.decode()} failed for {args.user}")
                    with open(os.path.join(args.out, f"{uid.decode()}.eml"), "wb") as out:
                        out.write(parts[0][1])
                print(len(uids))
                return
        finally:
            try:
                imap.logout()
            except (OSError, imaplib.IMAP4.error):
                pass
        if time.monotonic() >= deadline:
            fail(f"INBOX of {args.user} held {len(uids)} message(s), wanted {args.min}, after {args.timeout} s")
        time.sleep(0.5)


def load(path):
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def cmd_attachment(args):
    msg = load(args.eml)
    found = [
        part
        for part in msg.iter_attachments()
        if args.content_type is None or part.get_content_type() == args.content_type
    ]
    if len(found) != 1:
        fail(f"{args.eml}: expected one attachment of type {args.content_type}, found {len(found)}")
    with open(args.out, "wb") as out:
        out.write(found[0].get_payload(decode=True))
    print(found[0].get_filename() or "")


def cmd_subject(args):
    print(load(args.eml).get("Subject", ""))


def cmd_body(args):
    msg = load(args.eml)
    if args.all:
        for part in msg.walk():
            if part.get_content_maintype() == "text" and not part.is_multipart():
                sys.stdout.write(part.get_content())
                sys.stdout.write("\n")
        return
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        fail(f"{args.eml}: no text/plain body")
    sys.stdout.write(part.get_content())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("send")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sender", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--subject", required=True)
    p.add_argument("--body", default="Welcome to your new mailbox.\n")
    p.add_argument("--body-file")
    p.add_argument("--attach")
    p.add_argument("--attach-type", default="application/octet-stream")
    p.add_argument("--attach-name")
    p.add_argument("--after-ehlo")
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("fetch")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--min", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("attachment")
    p.add_argument("--eml", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--content-type")
    p.set_defaults(func=cmd_attachment)

    p = sub.add_parser("subject")
    p.add_argument("--eml", required=True)
    p.set_defaults(func=cmd_subject)

    p = sub.add_parser("body")
    p.add_argument("--eml", required=True)
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_body)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
