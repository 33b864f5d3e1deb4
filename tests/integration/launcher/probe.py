"""What a client gets from a Ray head's ports, for the launcher test's security checks.

Run on the head's host or on another machine as ``python probe.py '<checks as JSON>'``; prints
one JSON list with a result per check. A check is ``["tcp", host, port]``,
``["http", url, token_file]`` or ``["ray_client", "host:port", token_file]``, where
``token_file`` is ``null`` for a request without a token. Tokens are read from files so that no
token appears on a command line.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import urllib.error
import urllib.request


def _bearer(token_file: str | None) -> dict[str, str]:
    if token_file is None:
        return {}
    with open(token_file) as file:
        return {"authorization": f"Bearer {file.read().strip()}"}


def tcp(host: str, port: int) -> str:
    """``"open"``, or the error a connection gets (``"ConnectionRefusedError"``)."""
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        return type(error).__name__
    return "open"


def http_get(url: str, token_file: str | None) -> list[object]:
    """``[status, first bytes of the body]``, or ``[error name, message]`` with no answer."""
    request = urllib.request.Request(url, headers=_bearer(token_file))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return [response.status, response.read(300).decode(errors="replace")]
    except urllib.error.HTTPError as error:
        return [error.code, error.read(300).decode(errors="replace")]
    except urllib.error.URLError as error:
        return [type(error.reason).__name__, str(error.reason)]
    except (OSError, http.client.HTTPException) as error:
        # Not an HTTP server (gRPC, sshd), or one that hung up.
        return [type(error).__name__, str(error)]


def ray_client(address: str, token_file: str | None) -> str:
    """The gRPC status of the Ray Client server's ping, the first call `ray.init("ray://...")`
    makes (it retries that call on any error and then reports only a timeout)."""
    import grpc
    from ray.core.generated import ray_client_pb2, ray_client_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = ray_client_pb2_grpc.RayletDriverStub(channel)
        ping = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
        try:
            stub.ClusterInfo(ping, metadata=list(_bearer(token_file).items()), timeout=10)
        except grpc.RpcError as error:
            return f"{error.code().name}: {error.details()}"
    return "OK"


if __name__ == "__main__":
    checks = {"tcp": tcp, "http": http_get, "ray_client": ray_client}
    results = [checks[kind](*args) for kind, *args in json.loads(sys.argv[1])]
    print(json.dumps(results))
