"""A local SMTP server for herald-channels' tests, built on aiosmtpd.

Usage: python3 smtp_server.py <port> <directory>

Listens on 127.0.0.1:<port>. Writes every accepted message to
<directory>/messages/<n>.json (written to a temporary name, then renamed, before the
250 reply), and appends one line per EHLO to <directory>/sessions.log: lettre greets
once per connection, so the line count is the number of SMTP connections used.

Recipients starting with `nobody@` are refused with 550 (permanent), those starting
with `busy@` with 451 (transient). AUTH PLAIN/LOGIN is offered without TLS and accepts
only `mailer` / `s3cret-password`; sending without AUTH is allowed too.
"""

import asyncio
import json
import os
import sys
from email import message_from_bytes, policy

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER = b"mailer"
PASSWORD = b"s3cret-password"


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        os.makedirs(os.path.join(directory, "messages"), exist_ok=True)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with open(os.path.join(self.directory, "sessions.log"), "a") as log:
            log.write(hostname + "\n")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user here"
        if address.startswith("busy@"):
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": None if message["Subject"] is None else str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "body": message.get_content(),
        }
        path = os.path.join(self.directory, "messages", "%04d.json" % self.count)
        with open(path + ".tmp", "w") as file:
            json.dump(record, file)
        os.rename(path + ".tmp", path)
        return "250 OK queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    valid = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER
        and auth_data.password == PASSWORD
    )
    # handled=False: aiosmtpd sends the 235 or 535 reply itself.
    return AuthResult(success=valid, handled=False)


async def main(port, directory):
    handler = Handler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="smtp.herald.test",
            authenticator=authenticator,
            auth_require_tls=False,
        ),
        "127.0.0.1",
        port,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
