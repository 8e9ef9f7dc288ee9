"""The vLLM evaluation server: one engine per replica, experts resident, soups swapped in place.

`server.SoupServer` / `server.start_servers` run vLLM as child processes; `client.SoupClient`
loads a pool, applies a verified soup and generates; `worker_ext.SoupWorkerExtension` is the part
that runs inside vLLM's worker. vLLM itself is only ever imported by the server process.
"""

from soce_bo.serve.client import PoolInfo, SoupClient, SwapInfo
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.server import ServerPool, SoupServer, start_servers

__all__ = ["PoolInfo", "ServerConfig", "ServerPool", "SoupClient", "SoupServer", "SwapInfo", "start_servers"]
