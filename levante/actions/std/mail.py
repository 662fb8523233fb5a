"""``std.email``: send a message through an SMTP server."""

from __future__ import annotations

import logging
import smtplib
from email import policy
from email.message import EmailMessage
from typing import Any

from levante.actions.base import Action, ActionContext
from levante.exceptions import ActionError

LOG = logging.getLogger(__name__)

#: Seconds to wait for the SMTP server at each step.
SMTP_TIMEOUT = 60.0


def _addresses(value: Any, what: str) -> list[str]:
    """A list of addresses from a list, or from one string (``"a@x, b@y"`` is split on commas)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [a.strip() for a in value.split(",") if a.strip()]
    if isinstance(value, (list, tuple)):
        return [str(a) for a in value]
    raise ActionError(f"{what} must be a list of addresses, not {type(value).__name__}")


def split_server(smtp_server: str) -> tuple[str, int]:
    """``"host[:port]"`` -> ``(host, port)``; the port is 25 when not given.

    ``[::1]:2525`` names an IPv6 address with a port.

    Raises:
        ActionError: The port is not a number.
    """
    text = str(smtp_server).strip()
    host, port = text, "25"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        return host, int(port)
    except ValueError:
        raise ActionError(f"Invalid SMTP server {smtp_server!r}: the port must be a number") from None


class SendEmailAction(Action):
    """Sends an email message through an SMTP server; the result is null.

    With ``smtp_password`` the action says EHLO, switches to TLS (STARTTLS) and logs in with
    ``from_addr`` as the user name. As in Mistral, the server's certificate is not verified.
    """

    def __init__(
        self,
        from_addr: str,
        to_addrs: list[str],
        smtp_server: str,
        reply_to: list[str] | str | None = None,
        cc_addrs: list[str] | None = None,
        bcc_addrs: list[str] | None = None,
        smtp_password: str | None = None,
        subject: str | None = None,
        body: str | None = None,
        html_body: str | None = None,
    ) -> None:
        """Keep the message.

        Args:
            from_addr: Sender address (also the SMTP user name when logging in).
            to_addrs: Recipient addresses.
            smtp_server: ``host[:port]`` of the SMTP server (port 25 by default).
            reply_to: ``Reply-To`` addresses.
            cc_addrs: Copy recipients (listed in ``Cc``).
            bcc_addrs: Blind-copy recipients (in no header).
            smtp_password: Password; when not empty, STARTTLS and LOGIN are used.
            subject: Subject, ``<No subject>`` when not given.
            body: Plain-text body, ``<No body>`` when not given.
            html_body: HTML body; when given the message is ``multipart/alternative``.
        """
        self.from_addr = from_addr
        self.to_addrs = _addresses(to_addrs, "to_addrs")
        self.smtp_server = smtp_server
        self.reply_to = _addresses(reply_to, "reply_to")
        self.cc_addrs = _addresses(cc_addrs, "cc_addrs")
        self.bcc_addrs = _addresses(bcc_addrs, "bcc_addrs")
        self.smtp_password = smtp_password
        self.subject = subject if subject is not None else "<No subject>"
        self.body = body if body is not None else "<No body>"
        self.html_body = html_body

    def message(self) -> EmailMessage:
        """Build the message (without ``Bcc``)."""
        msg = EmailMessage()
        msg["Subject"] = self.subject
        msg["From"] = self.from_addr
        msg["To"] = ", ".join(self.to_addrs)
        if self.cc_addrs:
            msg["Cc"] = ", ".join(self.cc_addrs)
        if self.reply_to:
            msg["Reply-To"] = ", ".join(self.reply_to)
        msg.set_content(self.body)
        if self.html_body is not None:
            msg.add_alternative(self.html_body, subtype="html")
        return msg

    def run(self, context: ActionContext) -> None:
        """Send the message.

        Raises:
            ActionError: The server could not be reached or refused the message; the message
                names the server.
        """
        recipients = self.to_addrs + self.cc_addrs + self.bcc_addrs
        if not recipients:
            raise ActionError("Failed to send an email message: no recipient given")
        host, port = split_server(self.smtp_server)
        data = self.message().as_bytes(policy=policy.SMTP)  # CRLF line ends, as SMTP wants
        LOG.debug("Sending email from %s to %s via %s:%s", self.from_addr, recipients, host, port)
        try:
            with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT) as smtp:
                if self.smtp_password:
                    smtp.ehlo()
                    smtp.starttls()
                    smtp.ehlo()
                    smtp.login(self.from_addr, self.smtp_password)
                refused = smtp.sendmail(self.from_addr, recipients, data)
        except (smtplib.SMTPException, OSError) as exc:
            raise ActionError(
                f"Failed to send an email message via SMTP server {self.smtp_server}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if refused:
            LOG.warning("SMTP server %s refused recipients: %s", self.smtp_server, refused)
