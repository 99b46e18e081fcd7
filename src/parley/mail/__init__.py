"""The mail service: consumes the mail queue and sends each message by SMTP (or to the dev mailbox)."""
