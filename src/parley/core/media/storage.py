"""Where media bytes (message images, avatars) live, behind one small async interface chosen by ``MEDIA_STORAGE``.

* ``file:///abs/path`` or ``file://relative/path`` — :class:`FileStorage`, a directory on disk
  (the default of ``parley up``).
* ``s3://bucket[/prefix]`` — :class:`S3Storage`, any S3-compatible store (AWS, MinIO, Ceph …),
  with ``S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION``.
* ``cloudinary://api_key:api_secret@cloud_name[/folder]`` — :class:`CloudinaryStorage`.

Keys are the media keys of :mod:`parley.core.media.images`; every backend refuses anything else, so no
key can reach outside its directory, prefix or folder. The SDKs of the remote backends are
imported on first use, so the default file backend never pays for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import httpx

from parley.core.media.images import content_type_for_key, is_media_key

_URL_HELP: Final = "file:///path, s3://bucket[/prefix] or cloudinary://api_key:api_secret@cloud_name"
# S3's rules for new bucket names (lower case, 3–63 characters, no leading/trailing dot or dash).
_BUCKET_RE: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
_FOLDER_RE: Final = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*", re.ASCII)
_CLOUD_NAME_RE: Final = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_PREFIX_RE: Final = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*", re.ASCII)


@dataclass(frozen=True, slots=True)
class StoredObject:
    """The bytes of a stored object and the content type to serve them with."""

    data: bytes = field(repr=False)
    content_type: str


@runtime_checkable
class MediaStorage(Protocol):
    """An object store for media, addressed by media keys."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing what was there."""
        ...

    async def get(self, key: str) -> StoredObject | None:
        """The object stored under ``key``, or None when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object under ``key``; removing a missing object is not an error."""
        ...

    async def ping(self) -> None:
        """Return when the backend answers; raise when it does not."""
        ...

    async def close(self) -> None:
        """Release connections; the storage may not be used afterwards."""
        ...


def _check_key(key: str) -> None:
    # Callers validate keys long before they get here; this is the last line against a path or
    # object name built from user input.
    if not is_media_key(key):
        raise ValueError("not a media key")


# --- local directory ----------------------------------------------------------------------------------


class FileStorage:
    """Media as files in a directory: ``<root>/<first two characters of the key>/<key>``.

    The two-character subdirectories keep any one directory small. Writes go to a temporary file
    that is renamed into place, so a reader never sees half an image. The content type is the one
    the key's extension names (media keys always carry one).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(os.path.abspath(root))

    def __repr__(self) -> str:
        return f"FileStorage(root={str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        """The file that holds ``key``."""
        _check_key(key)
        return self.root / key[:2] / key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write the file atomically (temporary file, fsync, rename)."""
        await asyncio.to_thread(self._write, self.path_for(key), data)

    async def get(self, key: str) -> StoredObject | None:
        """Read the file, or None when it does not exist."""
        path = self.path_for(key)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        return StoredObject(data=data, content_type=content_type_for_key(key))

    async def delete(self, key: str) -> None:
        """Remove the file if it exists."""
        await asyncio.to_thread(self.path_for(key).unlink, missing_ok=True)

    async def ping(self) -> None:
        """Create the directory if needed and check that it is writable."""
        await asyncio.to_thread(self._check_writable)

    async def close(self) -> None:
        """Nothing to release."""

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def _check_writable(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"media directory {self.root} is not writable")


# --- S3 and compatible stores ---------------------------------------------------------------------------


class S3Storage:
    """Media as objects in an S3 bucket, under an optional prefix; the bucket is created if missing.

    One client (one connection pool) is opened on first use and kept until :meth:`close`. Without
    explicit keys the usual AWS chain applies (environment, config files, instance role).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        self.region = region or "us-east-1"
        self._access_key = access_key or None
        self._secret_key = secret_key or None
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"endpoint_url={self.endpoint_url!r}, region={self.region!r})"
        )

    def object_key(self, key: str) -> str:
        """The S3 object name that holds ``key``."""
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Upload the object with its content type."""
        client = await self._get_client()
        await client.put_object(
            Bucket=self.bucket, Key=self.object_key(key), Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> StoredObject | None:
        """Download the object, or None when there is none."""
        client = await self._get_client()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            if _s3_error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        async with response["Body"] as body:
            data = await body.read()
        content_type = response.get("ContentType") or content_type_for_key(key)
        return StoredObject(data=bytes(data), content_type=str(content_type))

    async def delete(self, key: str) -> None:
        """Delete the object (S3 deletes are idempotent)."""
        client = await self._get_client()
        await client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    async def ping(self) -> None:
        """Ask S3 about the bucket; raises when the store does not answer or refuses."""
        client = await self._get_client()
        await client.head_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        """Close the client and its connection pool."""
        async with self._lock:
            stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _get_client(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                stack = AsyncExitStack()
                try:
                    client = await stack.enter_async_context(self._new_client())
                    await self._ensure_bucket(client)
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack, self._client = stack, client
        return self._client

    def _new_client(self) -> Any:
        import aioboto3
        from aiobotocore.config import AioConfig

        options: dict[str, Any] = {
            "connect_timeout": 5,
            "read_timeout": 30,
            "retries": {"max_attempts": 3, "mode": "standard"},
        }
        if self.endpoint_url:
            # S3-compatible servers (MinIO, Ceph, moto …) usually need path-style addressing, and
            # many reject the checksums recent botocore sends by default.
            options["s3"] = {"addressing_style": "path"}
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        session = aioboto3.Session(
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
            region_name=self.region,
        )
        return session.client("s3", endpoint_url=self.endpoint_url, config=AioConfig(**options))

    async def _ensure_bucket(self, client: Any) -> None:
        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except Exception as exc:
            code = _s3_error_code(exc)
            if code in ("403", "AccessDenied", "Forbidden"):
                # Credentials that may write objects but not list buckets: the bucket exists (or
                # the first upload will say so); creating it is not ours to do.
                return
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise
        create: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            # us-east-1 is the one region that refuses an explicit location constraint.
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await client.create_bucket(**create)
        except Exception as exc:
            # Another instance starting at the same moment may have created it first.
            if _s3_error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


def _s3_error_code(exc: BaseException) -> str | None:
    """The error code of a botocore ``ClientError`` (``NoSuchKey``, ``404`` …), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


# --- Cloudinary -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CloudinaryAccount:
    """What a ``cloudinary://`` URL says: the cloud, its API credentials and an optional folder."""

    cloud_name: str
    api_key: str
    api_secret: str = field(repr=False)
    folder: str = ""


def parse_cloudinary_url(url: str) -> CloudinaryAccount:
    """Parse ``cloudinary://api_key:api_secret@cloud_name[/folder]`` (the dashboard's format)."""
    bad = ValueError(
        "MEDIA_STORAGE must look like cloudinary://api_key:api_secret@cloud_name for Cloudinary."
    )
    scheme, sep, rest = url.strip().partition("://")
    if scheme.lower() != "cloudinary" or not sep:
        raise bad
    if "?" in rest or "#" in rest:
        raise bad
    authority, _, path = rest.partition("/")
    userinfo, at, cloud_name = authority.rpartition("@")
    api_key, colon, api_secret = userinfo.partition(":")
    api_key, api_secret = unquote(api_key), unquote(api_secret)
    folder = path.strip("/")
    if not (at and colon and api_key and api_secret and _CLOUD_NAME_RE.fullmatch(cloud_name)):
        raise bad
    if folder and not _FOLDER_RE.fullmatch(folder):
        raise ValueError(
            "MEDIA_STORAGE names a Cloudinary folder with characters other than A-Z, 0-9, - and _."
        )
    return CloudinaryAccount(cloud_name=cloud_name, api_key=api_key, api_secret=api_secret, folder=folder)


class CloudinaryStorage:
    """Media as private ("authenticated") Cloudinary images, by public id.

    The official SDK is blocking, so its calls run in a thread. Downloads go through a signed
    delivery URL, the only way to read an authenticated asset without the Admin API.
    """

    # The Admin API behind ping is rate limited per hour; a healthy answer is reused for a while
    # so frequent readiness probes do not use the quota up.
    PING_CACHE_SECONDS: Final = 60.0

    def __init__(
        self,
        account: CloudinaryAccount,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.account = account
        self.timeout = timeout
        self._http = http
        self._owns_http = http is None
        self._last_ping = float("-inf")

    def __repr__(self) -> str:
        return f"CloudinaryStorage(cloud_name={self.account.cloud_name!r}, folder={self.account.folder!r})"

    def public_id(self, key: str) -> str:
        """The Cloudinary public id of ``key``: the folder and the key without its extension."""
        _check_key(key)
        stem = key.rpartition(".")[0]
        return f"{self.account.folder}/{stem}" if self.account.folder else stem

    def delivery_url(self, key: str) -> str:
        """A signed HTTPS URL that downloads the original bytes of ``key``."""
        import cloudinary.utils

        url, _ = cloudinary.utils.cloudinary_url(
            self.public_id(key),
            format=key.rpartition(".")[2],
            resource_type="image",
            type="authenticated",
            sign_url=True,
            secure=True,
            auth_token=False,  # never a token from some global configuration; the URL signature
            **self._credentials(),
        )
        return str(url)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Upload the image under its public id, replacing any previous version."""
        import cloudinary.uploader

        await asyncio.to_thread(
            cloudinary.uploader.upload,
            (key, data),
            public_id=self.public_id(key),
            resource_type="image",
            type="authenticated",
            overwrite=True,
            invalidate=True,
            timeout=self.timeout,
            **self._credentials(),
        )

    async def get(self, key: str) -> StoredObject | None:
        """Download the image through its signed delivery URL; None when Cloudinary has none."""
        response = await self._client().get(self.delivery_url(key))
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        response.raise_for_status()
        content_type = response.headers.get("content-type") or content_type_for_key(key)
        return StoredObject(data=response.content, content_type=content_type)

    async def delete(self, key: str) -> None:
        """Destroy the image and invalidate CDN copies; a missing image is not an error."""
        import cloudinary.uploader

        await asyncio.to_thread(
            cloudinary.uploader.destroy,
            self.public_id(key),
            resource_type="image",
            type="authenticated",
            invalidate=True,
            timeout=self.timeout,
            **self._credentials(),
        )

    async def ping(self) -> None:
        """Call the Admin API's ping; raises when Cloudinary does not answer or refuses the keys."""
        import cloudinary.api

        if time.monotonic() - self._last_ping < self.PING_CACHE_SECONDS:
            return
        await asyncio.to_thread(cloudinary.api.ping, timeout=self.timeout, **self._credentials())
        self._last_ping = time.monotonic()

    async def close(self) -> None:
        """Close the download client if this storage created it."""
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=True)
        return self._http

    def _credentials(self) -> dict[str, str]:
        # Passed on every call instead of through cloudinary.config(): the SDK's configuration is
        # process-wide, and nothing else in the process should see or change these credentials.
        return {
            "cloud_name": self.account.cloud_name,
            "api_key": self.account.api_key,
            "api_secret": self.account.api_secret,
        }


# --- choosing a backend -------------------------------------------------------------------------------------


def storage_from_url(
    url: str,
    *,
    s3_endpoint_url: str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_region: str | None = None,
) -> MediaStorage:
    """The storage ``MEDIA_STORAGE`` names; raises ``ValueError`` (one sentence) when it is invalid.

    Messages never repeat the URL itself, which may carry a secret.
    """
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise ValueError(f"MEDIA_STORAGE must be a URL such as {_URL_HELP}.")
    if scheme == "file":
        return FileStorage(_file_root(rest))
    if scheme == "s3":
        bucket, prefix = _s3_location(url)
        return S3Storage(
            bucket,
            prefix,
            endpoint_url=s3_endpoint_url,
            access_key=aws_access_key_id,
            secret_key=aws_secret_access_key,
            region=aws_region,
        )
    if scheme == "cloudinary":
        return CloudinaryStorage(parse_cloudinary_url(url))
    shown = scheme if re.fullmatch(r"[a-z0-9+.-]{1,20}", scheme) else "that"
    raise ValueError(f"MEDIA_STORAGE does not support the {shown} scheme; use {_URL_HELP}.")


def _file_root(rest: str) -> Path:
    """``file:///abs`` → ``/abs``; ``file://localhost/abs`` → ``/abs``; ``file://rel/dir`` → ``rel/dir``."""
    if "?" in rest or "#" in rest:
        raise ValueError("MEDIA_STORAGE file URLs take a directory only, without ? or #.")
    if rest.startswith("localhost/"):
        rest = rest.removeprefix("localhost")
    path = unquote(rest)
    if not path.strip("/") or "\x00" in path:
        raise ValueError("MEDIA_STORAGE file URLs must name a directory, e.g. file:///var/lib/parley/media.")
    return Path(path)


def _s3_location(url: str) -> tuple[str, str]:
    parts = urlsplit(url.strip())
    bucket = parts.netloc
    prefix = unquote(parts.path).strip("/")
    if parts.query or parts.fragment or "@" in bucket or not _BUCKET_RE.fullmatch(bucket):
        raise ValueError(
            "MEDIA_STORAGE must look like s3://bucket[/prefix] with a valid bucket name "
            "(credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."
        )
    if prefix and (not _PREFIX_RE.fullmatch(prefix) or {".", ".."} & set(prefix.split("/"))):
        raise ValueError(
            "MEDIA_STORAGE names an S3 prefix with characters other than A-Z, 0-9, -, _, . and /."
        )
    return bucket, prefix
