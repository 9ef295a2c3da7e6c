"""A local stand-in for Supabase Storage's HTTP API, faithful where db/recordings.py relies on it.

A real HTTP server (Starlette on uvicorn, in a thread) serving the routes supabase-py's storage
client calls, with Storage's answers and errors: buckets (`GET /bucket/{id}`, `POST /bucket`),
multipart upload (`POST /object/{bucket}/{path}`, 400 "Duplicate" unless `x-upsert: true`),
download, list (`POST /object/list/{bucket}` with limit/offset/prefix) and remove
(`DELETE /object/{bucket}` with `prefixes`). Like the gateway it refuses a wrong `apikey`.
Objects live in memory with their `updated_at`, which a test may move back in time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.served_app import ServesApp

PREFIX = "/storage/v1"
Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"statusCode": str(status), "error": error, "message": message}, status_code=status
    )


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    updated_at: datetime


@dataclass
class StorageDouble(ServesApp):
    service_role_key: str = "service-role-key-for-tests"
    buckets: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    what = "the storage double"

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("apikey") == self.service_role_key

    def app(self) -> Starlette:
        def guarded(handler: Handler) -> Handler:
            """Every request is recorded; one without the service role key is refused."""

            async def route(request: Request) -> Response:
                self.requests.append((request.method, request.url.path))
                if not self._authorized(request):
                    return _error(403, "Unauthorized", "Invalid Compact JWS")
                return await handler(request)

            return route

        async def get_bucket(request: Request) -> Response:
            bucket = request.path_params["bucket"]
            if bucket not in self.buckets:
                return _error(404, "Bucket not found", "Bucket not found")
            now = datetime.now(UTC).isoformat()
            return JSONResponse(
                {"id": bucket, "name": bucket, "owner": "", "public": False}
                | {"created_at": now, "updated_at": now}
                | {"file_size_limit": None, "allowed_mime_types": None}
            )

        async def create_bucket(request: Request) -> Response:
            body = await request.json()
            if body["id"] in self.buckets:
                return _error(409, "Duplicate", "The resource already exists")
            self.buckets[body["id"]] = {}
            return JSONResponse({"name": body["id"]})

        async def upload(request: Request) -> Response:
            bucket, path = request.path_params["bucket"], request.path_params["path"]
            if bucket not in self.buckets:
                return _error(404, "Bucket not found", "Bucket not found")
            if path in self.buckets[bucket] and request.headers.get("x-upsert") != "true":
                return _error(400, "Duplicate", "The resource already exists")
            form = await request.form()
            upload = form["file"]
            data = await upload.read()  # type: ignore[union-attr]
            content_type = upload.content_type or "application/octet-stream"  # type: ignore[union-attr]
            self.buckets[bucket][path] = StoredObject(data, content_type, datetime.now(UTC))
            return JSONResponse({"Id": path, "Key": f"{bucket}/{path}"})

        async def download(request: Request) -> Response:
            bucket, path = request.path_params["bucket"], request.path_params["path"]
            stored = self.buckets.get(bucket, {}).get(path)
            if stored is None:
                return _error(404, "not_found", "Object not found")
            return Response(stored.data, media_type=stored.content_type)

        async def list_objects(request: Request) -> Response:
            bucket = request.path_params["bucket"]
            if bucket not in self.buckets:
                return _error(404, "Bucket not found", "Bucket not found")
            body = await request.json()
            names = sorted(n for n in self.buckets[bucket] if n.startswith(body.get("prefix", "")))
            page = names[body.get("offset", 0) : body.get("offset", 0) + body.get("limit", 100)]
            objects = self.buckets[bucket]
            return JSONResponse(
                [
                    {
                        "name": name,
                        "id": f"id-{name}",
                        "updated_at": objects[name].updated_at.isoformat(),
                        "created_at": objects[name].updated_at.isoformat(),
                        "metadata": {"size": len(objects[name].data)},
                    }
                    for name in page
                ]
            )

        async def remove(request: Request) -> Response:
            bucket = request.path_params["bucket"]
            body = await request.json()
            removed = []
            for name in body.get("prefixes", []):
                if self.buckets.get(bucket, {}).pop(name, None) is not None:
                    removed.append({"name": name, "bucket_id": bucket})
            return JSONResponse(removed)

        return Starlette(
            routes=[
                Route(PREFIX + "/bucket/{bucket}", guarded(get_bucket), methods=["GET"]),
                Route(PREFIX + "/bucket", guarded(create_bucket), methods=["POST"]),
                Route(PREFIX + "/object/list/{bucket}", guarded(list_objects), methods=["POST"]),
                Route(PREFIX + "/object/{bucket}", guarded(remove), methods=["DELETE"]),
                Route(PREFIX + "/object/{bucket}/{path:path}", guarded(upload), methods=["POST"]),
                Route(PREFIX + "/object/{bucket}/{path:path}", guarded(download), methods=["GET"]),
            ]
        )
