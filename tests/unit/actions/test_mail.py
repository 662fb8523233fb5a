"""std.email against a real (tiny) SMTP server on 127.0.0.1, with STARTTLS and AUTH PLAIN."""

import base64
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from levante.actions import ActionContext, ActionError, Registry, Result, run_action
from levante.actions.std.mail import SendEmailAction, split_server

CTX = ActionContext(action_execution_id="ae-1")


class SMTPHandler(socketserver.StreamRequestHandler):
    """Enough of RFC 5321 for smtplib: EHLO/HELO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.session = {"tls": False, "auth": None, "mail_from": None, "rcpt_tos": [], "data": None}
        self.reply("220 localhost test SMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb, _, arg = line.decode().rstrip("\r\n").partition(" ")
            method = getattr(self, f"smtp_{verb.upper()}", None)
            if method is None:
                self.reply("502 Command not implemented")
            elif method(arg) == "quit":
                return

    def smtp_EHLO(self, arg):
        features = ["localhost"]
        if self.server.tls_context and not self.session["tls"]:
            features.append("STARTTLS")
        if self.session["tls"]:
            features.append("AUTH PLAIN")
        self.reply("\r\n".join([f"250-{f}" for f in features[:-1]] + [f"250 {features[-1]}"]))

    def smtp_HELO(self, arg):
        self.reply("250 OK")

    smtp_NOOP = smtp_RSET = smtp_HELO

    def smtp_STARTTLS(self, arg):
        if not self.server.tls_context or self.session["tls"]:
            return self.reply("502 Command not implemented")
        self.reply("220 Ready to start TLS")
        self.connection = self.server.tls_context.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb")
        self.session["tls"] = True

    def smtp_AUTH(self, arg):
        if not self.session["tls"]:
            return self.reply("530 Must issue a STARTTLS command first")
        mech, _, initial = arg.partition(" ")
        _, user, password = base64.b64decode(initial).decode().split("\0")
        self.session["auth"] = (mech.upper(), user, password)
        self.reply("235 Authentication successful")

    def smtp_MAIL(self, arg):
        self.session["mail_from"] = arg.split(":", 1)[1].strip().strip("<>")
        self.reply("250 OK")

    def smtp_RCPT(self, arg):
        address = arg.split(":", 1)[1].strip().strip("<>")
        if address.startswith("reject"):
            return self.reply("550 No such user")
        self.session["rcpt_tos"].append(address)
        self.reply("250 OK")

    def smtp_DATA(self, arg):
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        lines = []
        while True:
            line = self.rfile.readline()
            if line in (b".\r\n", b""):
                break
            lines.append(line[1:] if line.startswith(b".") else line)  # undo dot-stuffing
        self.session["data"] = b"".join(lines)
        self.server.messages.append(dict(self.session))
        self.reply("250 OK queued")

    def smtp_QUIT(self, arg):
        self.reply("221 Bye")
        return "quit"


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls_context=None):
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.tls_context = tls_context
        self.messages = []


def start(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def smtp():
    server = SMTPServer()
    thread = start(server)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def smtp_tls(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("smtp-cert")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = SMTPServer(tls_context=context)
    thread = start(server)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def address(server):
    return f"127.0.0.1:{server.server_address[1]}"


def parse(raw):
    return message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=default_policy)


def test_plain_message(smtp):
    smtp.messages.clear()
    action = SendEmailAction(
        from_addr="wf@example.org",
        to_addrs=["a@example.org", "b@example.org"],
        smtp_server=address(smtp),
        cc_addrs=["c@example.org"],
        bcc_addrs=["hidden@example.org"],
        reply_to=["replies@example.org"],
        subject="Report",
        body="All tasks done.\n.leading dot line",
    )
    assert run_action(action, CTX) == Result(data=None)
    [sent] = smtp.messages
    assert sent["mail_from"] == "wf@example.org"
    assert sent["rcpt_tos"] == ["a@example.org", "b@example.org", "c@example.org", "hidden@example.org"]
    assert sent["auth"] is None and sent["tls"] is False
    assert b"\n" not in sent["data"].replace(b"\r\n", b"")  # CRLF line ends only, as SMTP wants
    msg = parse(sent["data"])
    assert msg["From"] == "wf@example.org"
    assert msg["To"] == "a@example.org, b@example.org"
    assert msg["Cc"] == "c@example.org"
    assert msg["Reply-To"] == "replies@example.org"
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Report"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "All tasks done.\n.leading dot line\n"


def test_defaults_for_subject_and_body(smtp):
    smtp.messages.clear()
    SendEmailAction("wf@example.org", ["a@example.org"], address(smtp)).run(CTX)
    msg = parse(smtp.messages[-1]["data"])
    assert msg["Subject"] == "<No subject>"
    assert msg.get_content().strip() == "<No body>"


def test_html_body_is_multipart_alternative(smtp):
    smtp.messages.clear()
    SendEmailAction(
        "wf@example.org", ["a@example.org"], address(smtp),
        subject="Both", body="plain text", html_body="<p>rich <b>text</b></p>",
    ).run(CTX)
    msg = parse(smtp.messages[-1]["data"])
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().strip() == "plain text"
    assert parts[1].get_content().strip() == "<p>rich <b>text</b></p>"


def test_non_ascii_and_string_recipients(smtp):
    smtp.messages.clear()
    SendEmailAction(
        "wf@example.org", "a@example.org, b@example.org", address(smtp),
        subject="Überblick ✓", body="Grüße — ok",
    ).run(CTX)
    sent = smtp.messages[-1]
    assert sent["rcpt_tos"] == ["a@example.org", "b@example.org"]
    msg = parse(sent["data"])
    assert msg["Subject"] == "Überblick ✓"
    assert msg.get_content().strip() == "Grüße — ok"


def test_starttls_and_login(smtp_tls):
    smtp_tls.messages.clear()
    action = Registry().create("std.email", {
        "from_addr": "wf@example.org",
        "to_addrs": ["a@example.org"],
        "smtp_server": address(smtp_tls),
        "smtp_password": "pw:1",
        "subject": "Secret",
    })
    assert run_action(action, CTX) == Result(data=None)
    [sent] = smtp_tls.messages
    assert sent["tls"] is True
    assert sent["auth"] == ("PLAIN", "wf@example.org", "pw:1")
    assert parse(sent["data"])["Subject"] == "Secret"


def test_password_without_starttls_support(smtp):
    action = SendEmailAction("wf@example.org", ["a@example.org"], address(smtp), smtp_password="pw")
    with pytest.raises(ActionError, match=f"SMTP server {address(smtp)}.*STARTTLS"):
        action.run(CTX)


def test_unreachable_server():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    action = SendEmailAction("wf@example.org", ["a@example.org"], f"127.0.0.1:{port}")
    expected = f"^Failed to send an email message via SMTP server 127.0.0.1:{port}: "
    with pytest.raises(ActionError, match=expected):
        action.run(CTX)
    assert "127.0.0.1:" in run_action(action, CTX).error


def test_all_recipients_refused(smtp):
    action = SendEmailAction("wf@example.org", ["reject@example.org"], address(smtp))
    with pytest.raises(ActionError, match="SMTPRecipientsRefused"):
        action.run(CTX)


def test_no_recipient():
    with pytest.raises(ActionError, match="no recipient"):
        SendEmailAction("wf@example.org", [], "127.0.0.1:25").run(CTX)


def test_bad_recipient_type():
    with pytest.raises(ActionError, match="to_addrs must be a list"):
        SendEmailAction("wf@example.org", 42, "127.0.0.1:25")


@pytest.mark.parametrize("text, expected", [
    ("mail.example.org", ("mail.example.org", 25)),
    ("mail.example.org:2525", ("mail.example.org", 2525)),
    ("[::1]:2525", ("::1", 2525)),
    ("[::1]", ("::1", 25)),
    ("::1", ("::1", 25)),
])
def test_split_server(text, expected):
    assert split_server(text) == expected


def test_split_server_bad_port():
    with pytest.raises(ActionError, match="port must be a number"):
        split_server("host:smtp")
