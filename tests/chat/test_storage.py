"""Media storage backends and ``MEDIA_STORAGE`` parsing (``parley.core.media.storage``)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import cloudinary.api
import cloudinary.uploader
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError
from moto.server import ThreadedMotoServer

from parley.core.media.images import new_media_key
from parley.core.media.storage import (
    CloudinaryAccount,
    CloudinaryStorage,
    FileStorage,
    MediaStorage,
    S3Storage,
    StoredObject,
    parse_cloudinary_url,
    storage_from_url,
)

JPEG = b"\xff\xd8\xff\xe0 pretend jpeg bytes"
PNG = b"\x89PNG\r\n\x1a\n pretend png bytes"
BAD_KEYS = ["../etc/passwd", "../../outside.jpg", "a/b.jpg", "/abs.jpg", "", "plain"]


# --- files --------------------------------------------------------------------------------------------


async def test_file_storage_round_trip(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "media")
    assert isinstance(storage, MediaStorage)
    key = new_media_key("jpg")

    assert await storage.get(key) is None
    await storage.put(key, JPEG, "image/jpeg")
    assert await storage.get(key) == StoredObject(data=JPEG, content_type="image/jpeg")
    assert storage.path_for(key) == tmp_path / "media" / key[:2] / key
    assert storage.path_for(key).read_bytes() == JPEG

    await storage.put(key, JPEG + b"v2", "image/jpeg")
    stored = await storage.get(key)
    assert stored is not None and stored.data == JPEG + b"v2"

    await storage.delete(key)
    assert await storage.get(key) is None
    await storage.delete(key)  # deleting twice is fine
    # no temporary files are left behind
    assert [p.name for p in (tmp_path / "media").rglob("*") if p.is_file()] == []
    await storage.close()


async def test_file_storage_content_type_follows_the_key(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    key = new_media_key("png")
    await storage.put(key, PNG, "image/png")
    stored = await storage.get(key)
    assert stored is not None and stored.content_type == "image/png"


async def test_file_storage_concurrent_writes(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    keys = [new_media_key("webp") for _ in range(20)]
    await asyncio.gather(*(storage.put(key, key.encode(), "image/webp") for key in keys))
    results = await asyncio.gather(*(storage.get(key) for key in keys))
    assert [r.data if r else None for r in results] == [key.encode() for key in keys]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_file_storage_refuses_bad_keys(tmp_path: Path, key: str) -> None:
    storage = FileStorage(tmp_path / "media")
    with pytest.raises(ValueError):
        await storage.put(key, JPEG, "image/jpeg")
    with pytest.raises(ValueError):
        await storage.get(key)
    with pytest.raises(ValueError):
        await storage.delete(key)
    assert not (tmp_path / "etc").exists()
    assert not (tmp_path / "outside.jpg").exists()


async def test_file_storage_ping(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "not" / "yet")
    await storage.ping()
    assert (tmp_path / "not" / "yet").is_dir()

    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(OSError):
        await FileStorage(blocker).ping()


# --- S3 (moto in server mode) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def sync_s3(endpoint: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=region,
    )


def s3_storage(endpoint: str, bucket: str, prefix: str = "", region: str | None = None) -> S3Storage:
    return S3Storage(
        bucket,
        prefix,
        endpoint_url=endpoint,
        access_key="testing",
        secret_key="testing",
        region=region,
    )


def new_bucket() -> str:
    return f"parley-{uuid.uuid4().hex[:12]}"


async def test_s3_round_trip_creates_the_bucket(s3_endpoint: str) -> None:
    bucket = new_bucket()
    storage = s3_storage(s3_endpoint, bucket)
    assert isinstance(storage, MediaStorage)
    key = new_media_key("png")
    try:
        assert await storage.get(key) is None
        buckets = [b["Name"] for b in sync_s3(s3_endpoint).list_buckets()["Buckets"]]
        assert bucket in buckets

        await storage.put(key, PNG, "image/png")
        assert await storage.get(key) == StoredObject(data=PNG, content_type="image/png")
        head = sync_s3(s3_endpoint).head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "image/png"

        await storage.delete(key)
        assert await storage.get(key) is None
        await storage.delete(key)
        await storage.ping()
    finally:
        await storage.close()


async def test_s3_ping_creates_the_bucket_in_its_region(s3_endpoint: str) -> None:
    bucket = new_bucket()
    storage = s3_storage(s3_endpoint, bucket, region="eu-west-1")
    try:
        await storage.ping()
    finally:
        await storage.close()
    location = sync_s3(s3_endpoint, "eu-west-1").get_bucket_location(Bucket=bucket)
    assert location["LocationConstraint"] == "eu-west-1"


async def test_s3_prefix_and_existing_bucket(s3_endpoint: str) -> None:
    bucket = new_bucket()
    sync_s3(s3_endpoint).create_bucket(Bucket=bucket)
    storage = s3_storage(s3_endpoint, bucket, prefix="/chat/media/")
    key = new_media_key("jpg")
    try:
        await storage.put(key, JPEG, "image/jpeg")
        objects = sync_s3(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
        assert [o["Key"] for o in objects] == [f"chat/media/{key}"]
        stored = await storage.get(key)
        assert stored is not None and stored.data == JPEG
    finally:
        await storage.close()


async def test_s3_instances_starting_together_share_the_bucket(s3_endpoint: str) -> None:
    bucket = new_bucket()
    storages = [s3_storage(s3_endpoint, bucket) for _ in range(3)]
    try:
        await asyncio.gather(*(s.ping() for s in storages))
        key = new_media_key("gif")
        await storages[0].put(key, b"GIF89a...", "image/gif")
        stored = await storages[2].get(key)
        assert stored is not None and stored.content_type == "image/gif"
    finally:
        await asyncio.gather(*(s.close() for s in storages))


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_s3_refuses_bad_keys(s3_endpoint: str, key: str) -> None:
    storage = s3_storage(s3_endpoint, new_bucket())
    try:
        with pytest.raises(ValueError):
            await storage.put(key, JPEG, "image/jpeg")
        with pytest.raises(ValueError):
            await storage.get(key)
    finally:
        await storage.close()


@pytest.mark.slow  # botocore retries a refused connection with backoff before giving up
async def test_s3_ping_fails_when_nothing_answers() -> None:
    storage = s3_storage("http://127.0.0.1:9", new_bucket())
    try:
        with pytest.raises(EndpointConnectionError):
            await storage.ping()
    finally:
        await storage.close()


# --- Cloudinary (no network: the SDK's calls are replaced, downloads go to a mock transport) --------------


ACCOUNT = CloudinaryAccount(cloud_name="demo-cloud", api_key="123456", api_secret="s3cr3t", folder="parley")


def test_parse_cloudinary_url() -> None:
    assert parse_cloudinary_url("cloudinary://123456:s3cr3t@demo-cloud") == CloudinaryAccount(
        "demo-cloud", "123456", "s3cr3t"
    )
    assert parse_cloudinary_url("cloudinary://123456:s%40cr%3At@demo-cloud/parley/") == CloudinaryAccount(
        "demo-cloud", "123456", "s@cr:t", "parley"
    )
    assert "s3cr3t" not in repr(ACCOUNT)
    assert "s3cr3t" not in repr(CloudinaryStorage(ACCOUNT))


@pytest.mark.parametrize(
    "url",
    [
        "cloudinary://demo-cloud",
        "cloudinary://123456@demo-cloud",
        "cloudinary://:s3cr3t@demo-cloud",
        "cloudinary://123456:@demo-cloud",
        "cloudinary://123456:s3cr3t@",
        "cloudinary://123456:s3cr3t@demo cloud",
        "cloudinary://123456:s3cr3t@demo-cloud?x=1",
        "cloudinary://123456:s3cr3t@demo-cloud/../up",
        "http://123456:s3cr3t@demo-cloud",
    ],
)
def test_parse_cloudinary_url_refuses(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_cloudinary_url(url)
    assert "MEDIA_STORAGE" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_cloudinary_public_id_and_signed_delivery_url() -> None:
    storage = CloudinaryStorage(ACCOUNT)
    key = "AbCdEfGhIjKlMnOpQrStUvWxYz012345.webp"
    assert storage.public_id(key) == "parley/AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    url = urlsplit(storage.delivery_url(key))
    assert url.scheme == "https"
    assert url.netloc == "res.cloudinary.com"
    segments = url.path.split("/")
    assert segments[1:4] == ["demo-cloud", "image", "authenticated"]
    assert segments[4].startswith("s--") and segments[4].endswith("--")
    assert url.path.endswith("/parley/AbCdEfGhIjKlMnOpQrStUvWxYz012345.webp")
    assert "s3cr3t" not in storage.delivery_url(key)
    with pytest.raises(ValueError):
        storage.public_id("../etc/passwd")


async def test_cloudinary_put_get_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any, dict[str, Any]]] = []

    def fake_upload(file: Any, **options: Any) -> dict[str, Any]:
        calls.append(("upload", file, options))
        return {"public_id": options["public_id"]}

    def fake_destroy(public_id: str, **options: Any) -> dict[str, Any]:
        calls.append(("destroy", public_id, options))
        return {"result": "ok"}

    monkeypatch.setattr(cloudinary.uploader, "upload", fake_upload)
    monkeypatch.setattr(cloudinary.uploader, "destroy", fake_destroy)

    key = new_media_key("jpg")
    stored: dict[str, bytes] = {}

    def respond(request: httpx.Request) -> httpx.Response:
        assert "/image/authenticated/s--" in request.url.path
        data = stored.get(request.url.path.rsplit("/", 1)[1])
        if data is None:
            return httpx.Response(404)
        return httpx.Response(200, content=data, headers={"content-type": "image/jpeg"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as http:
        storage = CloudinaryStorage(ACCOUNT, http=http)
        await storage.put(key, JPEG, "image/jpeg")
        kind, file, options = calls[-1]
        assert kind == "upload"
        assert file == (key, JPEG)
        assert options["public_id"] == storage.public_id(key)
        assert options["type"] == "authenticated"
        assert options["resource_type"] == "image"
        assert (options["cloud_name"], options["api_key"], options["api_secret"]) == (
            "demo-cloud",
            "123456",
            "s3cr3t",
        )

        assert await storage.get(key) is None
        stored[key] = JPEG
        assert await storage.get(key) == StoredObject(data=JPEG, content_type="image/jpeg")

        await storage.delete(key)
        assert calls[-1][:2] == ("destroy", storage.public_id(key))
        assert calls[-1][2]["type"] == "authenticated"
        await storage.close()
        assert not http.is_closed  # a client passed in belongs to the caller


async def test_cloudinary_get_raises_on_server_errors() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(401))
    async with httpx.AsyncClient(transport=transport) as http:
        storage = CloudinaryStorage(ACCOUNT, http=http)
        with pytest.raises(httpx.HTTPStatusError):
            await storage.get(new_media_key("png"))


async def test_cloudinary_ping_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[dict[str, Any]] = []
    monkeypatch.setattr(cloudinary.api, "ping", lambda **options: pings.append(options) or {"status": "ok"})
    storage = CloudinaryStorage(ACCOUNT)
    await storage.ping()
    await storage.ping()
    assert len(pings) == 1
    assert pings[0]["cloud_name"] == "demo-cloud"
    await storage.close()


async def test_cloudinary_ping_failure_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**options: Any) -> dict[str, Any]:
        raise cloudinary.exceptions.AuthorizationRequired("Invalid credentials")

    monkeypatch.setattr(cloudinary.api, "ping", refuse)
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired):
        await CloudinaryStorage(ACCOUNT).ping()


# --- choosing a backend from MEDIA_STORAGE ----------------------------------------------------------------


def test_storage_from_file_urls(tmp_path: Path) -> None:
    absolute = storage_from_url(f"file://{tmp_path}/media")
    assert isinstance(absolute, FileStorage)
    assert absolute.root == tmp_path / "media"

    relative = storage_from_url("file://.parley/media")
    assert isinstance(relative, FileStorage)
    assert relative.root == Path(os.getcwd()) / ".parley" / "media"

    localhost = storage_from_url(f"file://localhost{tmp_path}")
    assert isinstance(localhost, FileStorage) and localhost.root == tmp_path

    spaced = storage_from_url(f"file://{tmp_path}/my%20media")
    assert isinstance(spaced, FileStorage) and spaced.root == tmp_path / "my media"


def test_storage_from_s3_urls() -> None:
    storage = storage_from_url(
        "s3://parley-media/chat/images/",
        s3_endpoint_url="http://minio:9000",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI",
        aws_region="eu-central-1",
    )
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix, storage.endpoint_url, storage.region) == (
        "parley-media",
        "chat/images",
        "http://minio:9000",
        "eu-central-1",
    )
    assert "wJalrXUtnFEMI" not in repr(storage)

    plain = storage_from_url("S3://bucket.with.dots")
    assert isinstance(plain, S3Storage)
    assert (plain.bucket, plain.prefix, plain.endpoint_url, plain.region) == (
        "bucket.with.dots",
        "",
        None,
        "us-east-1",
    )


def test_storage_from_cloudinary_url() -> None:
    storage = storage_from_url("cloudinary://123456:s3cr3t@demo-cloud")
    assert isinstance(storage, CloudinaryStorage)
    assert storage.account == CloudinaryAccount("demo-cloud", "123456", "s3cr3t")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "/var/lib/parley/media",
        "media",
        "ftp://host/media",
        "gs://bucket",
        "file://",
        "file:///",
        "file:///media?x=1",
        "s3://",
        "s3://Bad_Bucket",
        "s3://ab",
        "s3://AKIA:s3cr3t@bucket",
        "s3://bucket?region=eu",
        "s3://bucket/../escape",
        "cloudinary://s3cr3t@demo",
        "cloudinary://",
    ],
)
def test_storage_from_bad_urls(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        storage_from_url(url)
    message = str(caught.value)
    assert "MEDIA_STORAGE" in message
    assert "s3cr3t" not in message
    assert message.endswith(".") and "\n" not in message
