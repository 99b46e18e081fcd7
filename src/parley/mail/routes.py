"""The mail service's HTTP side: the dev mailbox (health and metrics come with every service)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from parley.mail.deps import Mailbox
from parley.mail.schemas import MailboxEntry
from parley.mail.templates import mailbox_page

router = APIRouter(prefix="/dev/mail", tags=["mail"])

NOT_CONFIGURED: dict[int | str, dict[str, Any]] = {
    404: {"description": "A real SMTP server is configured, so there is no dev mailbox"}
}


@router.get(
    "/messages",
    summary="Mail sent while no SMTP server is configured, newest first",
    response_model=list[MailboxEntry],
    response_model_by_alias=True,
    responses=NOT_CONFIGURED,
)
async def list_dev_mail(mailbox: Mailbox) -> list[MailboxEntry]:
    return mailbox.messages()


@router.get(
    "",
    summary="The dev mailbox as a page",
    response_class=HTMLResponse,
    responses=NOT_CONFIGURED,
)
async def dev_mail_page(mailbox: Mailbox) -> HTMLResponse:
    return HTMLResponse(mailbox_page(mailbox.messages()), headers={"Cache-Control": "no-store"})
