"""The bench's clients: accounts logged in through the public API, and Socket.IO connections.

Each account logs in the way a person does: ``POST /login`` queues a code, the code is read from
the dev mailbox (the bench has no inbox), ``POST /verify`` answers with the token.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import httpx
import socketio

API = "/api/v1"
# Six digits standing alone: the login code in a mail's body.
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
# The dev mailbox keeps the latest 200 mails; a batch must fit with room to spare.
LOGIN_BATCH = 50
MAIL_WAIT = 30.0
CONCURRENT_REQUESTS = 16


T = TypeVar("T")


class BenchError(Exception):
    """The bench cannot go on; the message says why, for the person running it."""


async def run_all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Every result in order; the first failure cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except BaseExceptionGroup as failures:
        first: BaseException = failures
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


class RateLimited(BenchError):
    """The server refused a login request for sending too many from this address."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Account:
    email: str
    id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def codes_by_recipient(mails: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The newest login code in the mailbox for each address (the mailbox lists the newest first)."""
    codes: dict[str, str] = {}
    for mail in mails:
        to = str(mail.get("to", "")).strip().lower()
        match = CODE.search(str(mail.get("body", "")))
        if to and match and to not in codes:
            codes[to] = match.group(0)
    return codes


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "60")))
    except ValueError:
        return 60.0


def _limit_message(path: str, accepted: int, users: int) -> str:
    variable = "LOGIN_RATE_PER_MINUTE" if path == "/login" else "VERIFY_RATE_PER_MINUTE"
    return (
        f"the server rate-limited POST {API}{path} after accepting {accepted} from this run, "
        f"which needs {users} users ({variable}; by default 20 /login and 30 /verify a minute per "
        "client IP). For big runs raise LOGIN_RATE_PER_MINUTE and VERIFY_RATE_PER_MINUTE on the server"
    )


def _refusal(response: httpx.Response, what: str) -> BenchError:
    try:
        message = response.json().get("message", response.text)
    except ValueError:
        message = response.text[:200]
    return BenchError(f"{what} failed: HTTP {response.status_code}: {message}")


class Accounts:
    """Creates fresh accounts (a new email each: the server allows one code per email a minute)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        mailbox_url: str,
        *,
        wait_on_limit: bool = False,
        on_limit: Callable[[str, float], None] | None = None,
    ) -> None:
        self.http = http
        self.mailbox_url = mailbox_url
        self.wait_on_limit = wait_on_limit
        self.on_limit = on_limit
        self.accepted = {"/login": 0, "/verify": 0}
        self.total = 0
        self._requests = asyncio.Semaphore(CONCURRENT_REQUESTS)
        self._quiet_until = 0.0

    async def create(
        self, emails: Sequence[str], on_created: Callable[[], None] | None = None
    ) -> list[Account]:
        """Log every address in, in batches the dev mailbox can hold; the accounts in the same order."""
        self.total += len(emails)
        accounts: list[Account] = []
        for start in range(0, len(emails), LOGIN_BATCH):
            batch = [email.strip().lower() for email in emails[start : start + LOGIN_BATCH]]
            await run_all(self._post("/login", {"email": email}) for email in batch)
            codes = await self._codes(batch)
            accounts += await run_all(self._verify(email, codes[email], on_created) for email in batch)
        return accounts

    async def _verify(self, email: str, code: str, on_created: Callable[[], None] | None) -> Account:
        answer = await self._post("/verify", {"email": email, "otp": code})
        if on_created:
            on_created()
        return Account(email=email, id=str(answer["user"]["_id"]), token=str(answer["token"]))

    async def _post(self, path: str, body: dict[str, str]) -> dict[str, Any]:
        while True:
            async with self._requests:
                try:
                    response = await self.http.post(f"{API}{path}", json=body)
                except httpx.HTTPError as exc:
                    raise BenchError(f"POST {API}{path} failed: {exc!r}") from exc
            if response.status_code == 429 and _code(response) != "otp_cooldown":
                message = _limit_message(path, self.accepted[path], self.total)
                wait = _retry_after(response)
                if not self.wait_on_limit:
                    hint = ", use fewer users (--idle-users), or pass --wait-on-limit."
                    raise RateLimited(message + hint, wait)
                if self.on_limit and time.monotonic() >= self._quiet_until:
                    # Concurrent requests hit the limit together: say it once per wait.
                    self._quiet_until = time.monotonic() + wait
                    self.on_limit(message, wait)
                await asyncio.sleep(wait)
                continue
            if response.status_code != 200:
                raise _refusal(response, f"POST {API}{path} for {body['email']}")
            self.accepted[path] += 1
            answer: dict[str, Any] = response.json()
            return answer

    async def _codes(self, emails: Sequence[str]) -> dict[str, str]:
        deadline = time.monotonic() + MAIL_WAIT
        wanted = set(emails)
        while True:
            try:
                response = await self.http.get(self.mailbox_url)
            except httpx.HTTPError as exc:
                raise BenchError(f"cannot read the dev mailbox at {self.mailbox_url}: {exc!r}") from exc
            if response.status_code != 200:
                raise BenchError(
                    f"no dev mailbox at {self.mailbox_url} (HTTP {response.status_code}): the bench reads "
                    "login codes from it, so the mail service must run without SMTP_HOST (or with "
                    "DEV_MAILBOX=true); point --mailbox-url at it if it is not behind --url"
                )
            codes = codes_by_recipient(response.json())
            if wanted <= codes.keys():
                return {email: codes[email] for email in emails}
            if time.monotonic() > deadline:
                missing = sorted(wanted - codes.keys())
                raise BenchError(
                    f"no login code for {missing[0]} (and {len(missing) - 1} more) in the dev mailbox "
                    f"after {MAIL_WAIT:.0f} s"
                )
            await asyncio.sleep(0.1)


def _code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("code")
    except ValueError:
        return None
    return code if isinstance(code, str) else None


class Socket:
    """One Socket.IO connection of ``owner``, over the websocket transport only (as many sockets need)."""

    def __init__(
        self,
        owner: Account,
        url: str,
        session: aiohttp.ClientSession,
        on_message: Callable[[Account, dict[str, Any]], None] | None = None,
    ) -> None:
        self.owner = owner
        self.url = url
        self.dropped = False
        # No reconnection: a socket the server drops counts as not held.
        self.client: Any = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=session)
        if on_message is not None:
            handler = on_message

            def new_message(data: Any) -> None:
                if isinstance(data, dict):
                    handler(owner, data)

            self.client.on("newMessage", new_message)
        self.client.on("disconnect", self._disconnected)

    def _disconnected(self, *_: Any) -> None:
        self.dropped = True

    @property
    def connected(self) -> bool:
        return bool(self.client.connected) and not self.dropped

    async def connect(self, timeout: float = 20) -> None:
        """Connect, or :class:`BenchError` saying why not."""
        try:
            await self.client.connect(
                self.url,
                auth={"token": self.owner.token},
                transports=["websocket"],
                socketio_path="socket.io",
                wait_timeout=timeout,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise BenchError(f"socket to {self.url} refused: {exc}") from exc

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()
