"""The missed-message mail as the user service writes it (``parley.user.notifications``)."""

from __future__ import annotations

from datetime import UTC, datetime

from parley.core.notifications import MissedMessage, MissedMessagesEmail
from parley.mail.schemas import MailRequest
from parley.user.notifications import missed_messages_mail
from parley.user.store import User

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def user(uid: str, name: str, email: str) -> User:
    return User(id=uid, name=name, email=email, name_key=name.casefold(), created_at=NOW, updated_at=NOW)


def request(**fields: object) -> MissedMessagesEmail:
    values: dict[str, object] = {
        "key": "c:u:7",
        "userId": "b" * 24,
        "chatId": "c" * 24,
        "isGroup": True,
        "chatName": "Book club",
        "messages": [
            MissedMessage(
                sender_id="a" * 24, text="line one\nline two", created_at="2026-12-04T10:00:00.000Z"
            ),
            MissedMessage(sender_id="d" * 24, text="", image=True, created_at="2026-12-04T10:00:01.000Z"),
        ],
        "total": 5,
    }
    values.update(fields)
    return MissedMessagesEmail.model_validate(values)


def render(req: MissedMessagesEmail, names: dict[str, str]) -> dict[str, str]:
    return missed_messages_mail(
        req,
        recipient=user("b" * 24, "Bob", "bob@example.com"),
        names=names,
        chat_url="https://parley.example/chats?c=" + "c" * 24,
        unsubscribe_url="https://parley.example/api/v1/user/unsubscribe?user=b&sig=s",
        delay_seconds=600,
    ).to_message()


def test_a_group_mail_names_the_group_quotes_by_name_and_counts_the_rest() -> None:
    mail = render(request(), {"a" * 24: "Alice"})
    assert mail["subject"] == "Parley: 5 unread messages in Book club"
    assert "Alice: line one line two" in mail["body"], "one line per message"
    assert "Someone: [Image]" in mail["body"], "a sender who is gone has no name, an image says so"
    assert "… and 3 more" in mail["body"]
    assert "10 minutes" in mail["body"]
    assert mail["actionUrl"] in mail["body"] and mail["unsubscribeUrl"] in mail["body"]
    assert MailRequest.model_validate(mail).unsubscribe_url == mail["unsubscribeUrl"], (
        "what the mail queue takes"
    )


def test_a_direct_mail_is_from_the_other_person_and_carries_no_other_address() -> None:
    req = request(isGroup=False, chatName=None, total=2)
    mail = render(req, {"a" * 24: "Alice", "d" * 24: "Alice"})
    assert mail["subject"] == "Parley: 2 unread messages from Alice"
    assert mail["to"] == "bob@example.com"
    assert "@" not in mail["body"].replace(mail["unsubscribeUrl"], ""), "no one's address in the text"
    assert "… and" not in mail["body"]
