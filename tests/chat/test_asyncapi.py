"""The Socket.IO events described once: the AsyncAPI document, what really goes over the wire, and
the web app's generated event types."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from parley.chat import events as chat_events
from parley.chat.realtime import protocol
from parley.chat.realtime.asyncapi import asyncapi_document, typescript_input
from tests.chat.helpers import group_chat, send
from tests.chat.live_helpers import Live
from tests.fixtures.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
DOC_URI = "urn:parley:asyncapi"


def event_names(module: ModuleType) -> set[str]:
    """The event names a module declares: its upper-case constants whose value is a camelCase name."""
    return {
        value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", value)
    }


def validator(doc: dict[str, Any], ref: dict[str, str]) -> Draft202012Validator:
    """A validator of the schema ``ref`` points at, its references resolved inside ``doc``."""
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource(contents=doc, specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": DOC_URI + ref["$ref"]}, registry=registry)


def test_every_event_of_the_protocol_is_described_once_with_its_direction() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"] == "2.6.0"
    assert {"title", "version"} <= set(doc["info"])
    channel = doc["channels"]["/"]
    messages = doc["components"]["messages"]

    def named(operation: str) -> list[str]:
        refs = [m["$ref"] for m in channel[operation]["message"]["oneOf"]]
        return [messages[r.removeprefix("#/components/messages/")]["name"] for r in refs]

    server, client = named("subscribe"), named("publish")
    assert set(server) | set(client) == event_names(protocol) | event_names(chat_events)
    assert set(server).isdisjoint(client)
    assert {"newMessage", "messagesSeen", "chatUpdated", "removedFromChat", "getOnlineUser"} <= set(server)
    assert {"typing", "stopTyping", "joinChat", "leaveChat", "sendMessage"} <= set(client)
    assert messages["sendMessage"]["x-ack"]["payload"] == {"$ref": "#/components/schemas/SendMessageAck"}


def test_every_payload_schema_resolves_and_is_a_valid_json_schema() -> None:
    doc = asyncapi_document()
    schemas = doc["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    refs: list[str] = re.findall(r'"\$ref": "([^"]+)"', repr(doc).replace("'", '"'))
    assert refs
    for ref in refs:
        kind, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in doc["components"][kind], f"{ref} does not resolve"
    for message in doc["components"]["messages"].values():
        validator(doc, message["payload"])  # resolvable from the document alone

    def valid(ref: str, value: Any) -> bool:
        return validator(doc, {"$ref": ref}).is_valid(value)

    chat_id = "a" * 24
    assert valid("#/components/schemas/ChatRef", {"chatId": chat_id})
    assert not valid("#/components/schemas/ChatRef", {"chatId": "not an id"})
    assert valid("#/components/schemas/SendMessageIn", {"chatId": chat_id, "text": "hi"})
    assert not valid("#/components/schemas/SendMessageIn", {"text": "hi"})
    assert valid("#/components/schemas/SendMessageAck", {"error": {"message": "No", "code": "forbidden"}})
    assert not valid("#/components/schemas/SendMessageAck", {"error": {"message": "No"}})


async def test_the_document_is_served_by_the_chat_service_and_in_one_process(stack: Stack) -> None:
    response = await stack.client().get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == asyncapi_document()


async def test_what_goes_over_the_wire_matches_the_document(live: Live) -> None:
    """Every event a conversation produces, and both kinds of acknowledgement, validate against it."""
    doc = asyncapi_document()
    messages = doc["components"]["messages"]
    alice, bob, carol = await live.people("alice", "bob", "carol")
    alice_tab, bob_tab = await live.socket(alice), await live.socket(bob)
    group = await group_chat(alice, bob, carol)
    await bob_tab.wait_for("newChat")

    await alice_tab.emit("typing", {"chatId": group})
    await bob_tab.wait_for("userTyping")
    await alice_tab.emit("stopTyping", {"chatId": group})
    await bob_tab.wait_for("userStoppedTyping")
    stored = await alice_tab.call("sendMessage", {"chatId": group, "text": "hello", "clientId": "c-1"})
    refused = await alice_tab.call("sendMessage", {"chatId": "b" * 24, "text": "hello"})
    assert "error" in refused
    await bob_tab.wait_for("newMessage")
    await bob_tab.emit("joinChat", {"chatId": group})
    await alice_tab.wait_for("messagesSeen")
    await alice.client.patch(f"/api/v1/message/{stored['message']['_id']}", json={"text": "hello!"})
    await bob_tab.wait_for("messageUpdated")
    await alice.client.post(f"/api/v1/chat/{group}/rename", json={"name": "Crew"})
    await bob_tab.wait_for("chatUpdated")
    await send(bob, group, "bye")
    await bob.client.post(f"/api/v1/chat/{group}/leave")
    await bob_tab.wait_for("removedFromChat")

    heard = {name for peer in (alice_tab, bob_tab) for name, _ in peer.events}
    server_events = {name for name, m in messages.items() if "x-ack" not in m and name in heard}
    assert server_events == {
        "getOnlineUser",
        "newChat",
        "userTyping",
        "userStoppedTyping",
        "newMessage",
        "messagesSeen",
        "messageUpdated",
        "chatUpdated",
        "removedFromChat",
    }
    for peer in (alice_tab, bob_tab):
        for name, payload in peer.events:
            if name in messages:
                errors = [e.message for e in validator(doc, messages[name]["payload"]).iter_errors(payload)]
                assert errors == [], f"{name}: {errors}"
    ack = validator(doc, messages["sendMessage"]["x-ack"]["payload"])
    assert ack.is_valid(stored)
    assert ack.is_valid(refused)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_the_web_apps_event_types_are_generated_from_the_document_and_fresh() -> None:
    """The same check as ``make lint``: the committed file is what the generator makes today."""
    generator = ROOT / "web" / "node_modules" / ".bin" / "openapi-typescript"
    if not generator.exists():
        pytest.skip("web/node_modules is not installed")
    source = subprocess.run(
        [sys.executable, "-m", "parley.chat.realtime.asyncapi", "--typescript-input"],
        capture_output=True,
        check=True,
    ).stdout
    checked = subprocess.run(  # noqa: S603  # the project's own generator, fixed arguments
        [str(generator), "--check", "-o", "lib/socket-types.gen.ts"],
        input=source,
        cwd=ROOT / "web",
        capture_output=True,
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    generated = (ROOT / "web" / "lib" / "socket-types.gen.ts").read_text()
    for name in typescript_input(asyncapi_document())["components"]["schemas"]:
        assert f"        {name}: " in generated
