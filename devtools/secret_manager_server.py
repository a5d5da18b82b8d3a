"""A small Secret Manager gRPC server for tests and local runs.

It speaks the real ``google.cloud.secretmanager.v1.SecretManagerService`` protocol (the request
and response messages are serialised by the client library's own generated types), so the real
``google-cloud-secret-manager`` client talks to it unmodified, through
``SECRET_MANAGER_ENDPOINT=127.0.0.1:PORT``. Only ``AccessSecretVersion`` is served; versions
are numbered from 1 and ``latest`` is the newest, as in Secret Manager.
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
                )
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
            if version == "latest":
                number = len(versions)
            elif version.isdigit() and 1 <= int(version) <= len(versions):
                number = int(version)
            else:
                context.abort(
                    grpc.StatusCode.NOT_FOUND, f"Secret version [{request.name}] not found."
                )
            payload = versions[number - 1]
        return types.AccessSecretVersionResponse(
            name=f"{secret}/versions/{number}", payload=types.SecretPayload(data=payload)
        )

    def start(self) -> SecretManagerServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def __enter__(self) -> SecretManagerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
