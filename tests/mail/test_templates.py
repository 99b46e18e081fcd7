"""The HTML of mails and of the dev mailbox page."""

from __future__ import annotations

from parley.mail.schemas import MailboxEntry
from parley.mail.templates import mail_html, mailbox_page


def test_mail_html_escapes_and_shows_the_code_large() -> None:
    html = mail_html(
        "Code <now>", "Hello <script>alert(1)</script>\nYour code is 654321\n\nBye & thanks", code="654321"
    )
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>" in html
    assert "<title>Code &lt;now&gt;</title>" in html
    assert "font-size:32px" in html and ">654321</span>" in html
    assert html.count("<p ") == 3, "a brand line and two paragraphs"
    assert "http" not in html.replace("http-equiv", ""), "no external assets"


def test_only_the_code_the_mail_names_is_shown_large() -> None:
    """Numbers in other mail (a quoted chat message, an order number) are not taken for a code."""
    body = "Bob: the door code is 123456\nOrder 1234567"
    assert "font-size:32px" not in mail_html("New messages", body)
    html = mail_html("Your Parley login code", "Your code is 765432, not 1765432", code="765432")
    assert html.count("font-size:32px") == 1 and ">765432</span>, not 1765432" in html


def test_mailbox_page_lists_mail_and_escapes_it() -> None:
    mails = [
        MailboxEntry(
            to="a@example.com",
            subject="<b>Hi</b>",
            body="Code 111222",
            received_at="2026-11-25T10:00:01.000Z",
            code="111222",
        ),
        MailboxEntry(
            to="b@example.com", subject="Older", body="Order 333444", received_at="2026-11-25T10:00:00.000Z"
        ),
    ]
    page = mailbox_page(mails)
    assert page.index("a@example.com") < page.index("b@example.com")
    assert "&lt;b&gt;Hi&lt;/b&gt;" in page and "<b>Hi</b>" not in page
    assert '<div class="code">111222</div>' in page
    assert '<div class="code">333444</div>' not in page, "only a mail's own code"
    assert 'data-newest="2026-11-25T10:00:01.000Z|2"' in page
    assert "src=" not in page and "href=" not in page, "self-contained"


def test_an_empty_mailbox_says_so() -> None:
    assert "No mail yet" in mailbox_page([])


def test_mail_html_links_only_the_named_links_and_can_leave_numbers_alone() -> None:
    chat = "https://parley.example/chats?c=abc&x=1"
    body = f"Bob: meet at 123456, see https://evil.example\n\nOpen the chat: {chat}"
    html = mail_html("News", body, links=[chat])
    assert '<a href="https://parley.example/chats?c=abc&amp;x=1"' in html
    assert 'href="https://evil.example' not in html, "a link inside quoted text stays text"
    assert "font-size:32px" not in html, "a number in a message is not a login code"
