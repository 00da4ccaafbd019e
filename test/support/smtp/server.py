"""A real SMTP server for the tests: Debian's python3-aiosmtpd, on 127.0.0.1.

Prints {"ready": port} once it listens, then one JSON line per message it accepted, parsed with
Python's own email package (headers, the text and HTML parts). Stops when its standard input closes.

  server.py [--port N] [--cert F --key F [--smtps | --require-starttls]] [--auth USER:PASS] [--reject ADDRESS]...
"""
import argparse
import asyncio
import email
import email.policy
import json
import ssl
import sys
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--cert')
    parser.add_argument('--key')
    parser.add_argument('--smtps', action='store_true')
    parser.add_argument('--require-starttls', action='store_true')
    parser.add_argument('--auth')
    parser.add_argument('--reject', action='append', default=[])
    return parser.parse_args()


class Handler:
    def __init__(self, reject):
        self.reject = set(reject)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return '550 5.1.1 <%s>: Recipient address rejected: User unknown' % address
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        # The wire's CRLF line ends as the newlines a reader's program shows.
        raw = (envelope.original_content or envelope.content).replace(b'\r\n', b'\n')
        message = email.message_from_bytes(raw, policy=email.policy.default)
        text = message.get_body(preferencelist=('plain',))
        html = message.get_body(preferencelist=('html',))
        queued = uuid.uuid4().hex[:10].upper()
        print(json.dumps({
            'mail_from': envelope.mail_from,
            'rcpt_tos': envelope.rcpt_tos,
            'tls': server.transport.get_extra_info('ssl_object') is not None,
            'auth': session.auth_data.login.decode() if session.authenticated and isinstance(session.auth_data, LoginPassword) else None,
            'headers': {name.lower(): str(value) for name, value in message.items()},
            'content_type': message.get_content_type(),
            'text': text.get_content() if text is not None else None,
            'html': html.get_content() if html is not None else None,
            'queued': queued,
        }), flush=True)
        return '250 2.0.0 Ok: queued as %s' % queued


def main():
    args = parse_args()
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    user, _, password = (args.auth or '').partition(':')

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    def factory():
        kwargs = {'hostname': 'smtp.test', 'ident': 'aiosmtpd test server'}
        if context is not None and not args.smtps:
            kwargs.update(tls_context=context, require_starttls=args.require_starttls)
        if args.auth:
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
        return SMTP(Handler(args.reject), **kwargs)

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, '127.0.0.1', args.port, ssl=context if args.smtps else None)
        print(json.dumps({'ready': server.sockets[0].getsockname()[1]}), flush=True)
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(serve())


if __name__ == '__main__':
    main()
