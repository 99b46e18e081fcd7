"""The AsyncAPI 2.6 document of the chat service's Socket.IO events (``GET /asyncapi.json``).

Built from :data:`parley.chat.realtime.events.EVENTS`, so it cannot drift from what the server
sends and accepts. Socket.IO is described the way AsyncAPI's own Socket.IO guide does it: one
channel per namespace, ``subscribe`` for what the server emits, ``publish`` for what clients emit,
each event a message whose ``name`` is the event's name, acknowledgements under ``x-ack``.

``python -m parley.chat.realtime.asyncapi`` prints the document; with ``--typescript-input`` it prints
the document's schemas (plus one map per direction from event name to payload) as an OpenAPI
document's components, which ``make api-types`` turns into the web app's TypeScript event types.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from parley.chat.realtime.events import EVENTS
from parley.chat.realtime.protocol import NAMESPACE

ASYNCAPI_VERSION = "2.6.0"
SCHEMAS = "#/components/schemas/"
MESSAGES = "#/components/messages/"


@cache
def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI document; every payload and acknowledgement is a schema under ``components``."""
    # What clients send is read as input (validation), what the server sends as output (serialization).
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for event in EVENTS:
        wanted[(event.payload, "serialization" if event.sender == "server" else "validation")] = None
        if event.ack is not None:
            wanted[(event.ack, "serialization")] = None
    refs, defs = models_json_schema(list(wanted), ref_template=SCHEMAS + "{model}")
    schemas: dict[str, Any] = defs.get("$defs", {})

    messages: dict[str, Any] = {}
    for event in EVENTS:
        mode: JsonSchemaMode = "serialization" if event.sender == "server" else "validation"
        message: dict[str, Any] = {
            "name": event.name,
            "title": event.name,
            "summary": event.summary,
            "contentType": "application/json",
            "payload": refs[(event.payload, mode)],
        }
        if event.ack is not None:
            message["x-ack"] = {"payload": refs[(event.ack, "serialization")]}
        messages[event.name] = message

    def one_of(sender: str) -> dict[str, Any]:
        return {"oneOf": [{"$ref": MESSAGES + e.name} for e in EVENTS if e.sender == sender]}

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:parley:chat:socket.io",
        "info": {
            "title": "Parley real-time events",
            "version": "1.0.0",
            "description": (
                "Socket.IO v4 at `/socket.io/` on the chat service. Connect with `auth: {token}` (or the "
                "session cookie of the web app); no token or a bad one and the connection is refused. "
                "Each socket joins its user's room: all of a user's tabs and devices receive the user's events."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "chat": {
                "url": "/socket.io/",
                "protocol": "ws",
                "description": "The chat service (in `parley up`, the same origin as the web app).",
            }
        },
        "channels": {
            NAMESPACE: {
                "description": "The default namespace: every event of Parley.",
                "subscribe": {
                    "operationId": "serverEvents",
                    "summary": "Events the server emits to your sockets.",
                    "message": one_of("server"),
                },
                "publish": {
                    "operationId": "clientEvents",
                    "summary": "Events your socket emits to the server.",
                    "message": one_of("client"),
                },
            }
        },
        "components": {"messages": messages, "schemas": schemas},
    }


router = APIRouter()


@router.get("/asyncapi.json", include_in_schema=False)
async def get_asyncapi() -> JSONResponse:
    """The AsyncAPI document of the Socket.IO events (public, like ``/openapi.json``)."""
    return JSONResponse(asyncapi_document())


def typescript_input(document: dict[str, Any]) -> dict[str, Any]:
    """The schemas of an AsyncAPI ``document`` as an OpenAPI document, for ``openapi-typescript``.

    Besides the payload schemas it holds ``ServerToClientEvents`` and ``ClientToServerEvents``
    (event name → payload) and ``ClientToServerAcks`` (event name → acknowledgement), read from
    the document's messages.
    """
    components = document["components"]
    schemas = dict(components["schemas"])
    channel = document["channels"][NAMESPACE]

    def event_map(operation: str, part: str) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for ref in channel[operation]["message"]["oneOf"]:
            message = components["messages"][ref["$ref"].removeprefix(MESSAGES)]
            payload = message["payload"] if part == "payload" else message.get("x-ack", {}).get("payload")
            if payload is not None:
                properties[message["name"]] = payload
        return {"type": "object", "properties": properties, "required": list(properties)}

    schemas["ServerToClientEvents"] = event_map("subscribe", "payload")
    schemas["ClientToServerEvents"] = event_map("publish", "payload")
    schemas["ClientToServerAcks"] = event_map("publish", "ack")
    return {
        "openapi": "3.1.0",
        "info": {"title": document["info"]["title"], "version": document["info"]["version"]},
        "paths": {},
        "components": {"schemas": schemas},
    }


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    document = asyncapi_document()
    if "--typescript-input" in args:
        document = typescript_input(document)
    json.dump(document, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
