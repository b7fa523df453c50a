"""E-mail alerts over SMTP: plain, STARTTLS or SSL, with a login or without.

Our own small resource: Dagster's `make_email_on_run_failure_sensor` always logs in, which a relay
inside an organisation's network often does not take.
"""

import email.policy
import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

import dagster as dg


class AlertsResource(dg.ConfigurableResource):
    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["plain", "starttls", "ssl"] = "plain"
    username: str | None = None
    password: str | None = None
    sender: str = "prodline@localhost"
    timeout_seconds: float = 30.0
    # Only for a server whose certificate no public authority signed (a test relay): its CA file.
    ca_file: str | None = None

    def send(self, to: list[str], subject: str, body: str) -> None:
        """One message to every address in `to`; a refused or unreachable server raises."""
        if not to:
            return
        # Long subjects are not folded: some parsers keep the fold's leading space in the subject.
        message = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(to), subject
        message.set_content(body)
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.security == "ssl":
            server = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_seconds, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        with server:
            if self.security == "starttls":
                server.starttls(context=context)
            if self.username:
                server.login(self.username, self.password or "")
            server.send_message(message)
