"""A small Secret Manager gRPC server for tests and local runs.

It speaks the real ``google.cloud.secretmanager.v1.SecretManagerService`` protocol (the request
and response messages are serialised by the client library's own generated types), so the real
``google-cloud-secret-manager`` client talks to it unmodified, through
``SECRET_MANAGER_ENDPOINT=127.0.0.1:PORT``. ``AccessSecretVersion`` and ``ListSecretVersions``
are served; versions are numbered from 1, ``latest`` is the newest enabled one, and a disabled
version answers FAILED_PRECONDITION, as in Secret Manager.
"""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
from google.cloud.secretmanager_v1 import types

_SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"


class SecretManagerServer:
    """``add_version(project, secret, value)``; ``access_count(name)``; ``start()``/``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._versions: dict[str, list[bytes]] = {}
        self._disabled: set[str] = set()  # full version names
        self._accesses: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "AccessSecretVersion": grpc.unary_unary_rpc_method_handler(
                    self._access,
                    request_deserializer=types.AccessSecretVersionRequest.deserialize,
                    response_serializer=types.AccessSecretVersionResponse.serialize,
                ),
                "ListSecretVersions": grpc.unary_unary_rpc_method_handler(
                    self._list,
                    request_deserializer=types.ListSecretVersionsRequest.deserialize,
                    response_serializer=types.ListSecretVersionsResponse.serialize,
                ),
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        self.endpoint = f"{host}:{self.port}"

    def add_version(self, project: str, secret: str, value: str) -> str:
        """Add a version; returns the secret's name ``projects/P/secrets/S``."""
        name = f"projects/{project}/secrets/{secret}"
        with self._lock:
            self._versions.setdefault(name, []).append(value.encode("utf-8"))
        return name

    def disable_version(self, project: str, secret: str, number: int) -> None:
        with self._lock:
            self._disabled.add(f"projects/{project}/secrets/{secret}/versions/{number}")

    def access_count(self, name: str) -> int:
        with self._lock:
            return self._accesses.get(name, 0)

    def _access(
        self, request: types.AccessSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.AccessSecretVersionResponse:
        secret, _, version = request.name.partition("/versions/")
        with self._lock:
            self._accesses[secret] = self._accesses.get(secret, 0) + 1
            versions = self._versions.get(secret)
            if not versions:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Secret [{secret}] not found.")
            enabled = [
                n
                for n in range(1, len(versions) + 1)
                if f"{secret}/versions/{n}" not in self._disabled
            ]
            if version == "latest" and enabled:
                number = enabled[-1]
            elif version.isdigit() and 1 <= int(version) <= len(versions):
                number = int(version)
            else:
                context.abort(
                    grpc.StatusCode.NOT_FOUND, f"Secret version [{request.name}] not found."
                )
            if number not in enabled:
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Secret version [{secret}/versions/{number}] is in DISABLED state.",
                )
            payload = versions[number - 1]
        return types.AccessSecretVersionResponse(
            name=f"{secret}/versions/{number}", payload=types.SecretPayload(data=payload)
        )

    def _list(
        self, request: types.ListSecretVersionsRequest, context: grpc.ServicerContext
    ) -> types.ListSecretVersionsResponse:
        """Newest first, as Secret Manager lists them; honours ``filter="state:ENABLED"``."""
        with self._lock:
            versions = self._versions.get(request.parent)
            if not versions:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Secret [{request.parent}] not found.")
            listed = []
            for number in range(len(versions), 0, -1):
                name = f"{request.parent}/versions/{number}"
                state = (
                    types.SecretVersion.State.DISABLED
                    if name in self._disabled
                    else types.SecretVersion.State.ENABLED
                )
                if request.filter == "state:ENABLED" and state != types.SecretVersion.State.ENABLED:
                    continue
                listed.append(types.SecretVersion(name=name, state=state))
        return types.ListSecretVersionsResponse(versions=listed, total_size=len(listed))

    def start(self) -> SecretManagerServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def __enter__(self) -> SecretManagerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
