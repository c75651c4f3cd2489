"""A local SMTP server for herald-channels' tests, built on aiosmtpd.

Usage: python3 smtp_server.py <port> <directory> [starttls|tls <cert.pem> <key.pem>]

Listens on 127.0.0.1:<port>; with `starttls`, offers STARTTLS with the certificate and
refuses mail before it; with `tls`, speaks TLS from the first byte (implicit TLS).

Writes every accepted message to <directory>/messages/<n>.json (written to a temporary
name, then renamed, before the 250 reply), and appends one line per EHLO to
<directory>/sessions.log: lettre greets once per connection, so the line count is the
number of SMTP connections used.

Recipients starting with `nobody@` are refused with 550 (permanent), those starting
with `busy@` with 451 (transient). AUTH PLAIN/LOGIN is offered without TLS and accepts
only `mailer` / `s3cret-password`; sending without AUTH is allowed too. Each message's
record says whether it came over TLS.
"""

import asyncio
import json
import os
import ssl
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
            "tls": server.transport.get_extra_info("ssl_object") is not None,
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


def tls_context(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def main(port, directory, mode=None, cert=None, key=None):
    handler = Handler(directory)
    loop = asyncio.get_running_loop()
    context = None if mode is None else tls_context(cert, key)
    starttls = mode == "starttls"
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="smtp.herald.test",
            authenticator=authenticator,
            auth_require_tls=False,
            tls_context=context if starttls else None,
            require_starttls=starttls,
        ),
        "127.0.0.1",
        port,
        ssl=context if mode == "tls" else None,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    tls_mode = sys.argv[3] if len(sys.argv) == 6 else None
    if len(sys.argv) not in (3, 6) or tls_mode not in (None, "starttls", "tls"):
        sys.exit(__doc__)
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], *sys.argv[3:]))
