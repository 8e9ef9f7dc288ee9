"""The vLLM evaluation server: one engine per replica, experts resident, soups swapped in place.

`server.SoupServer` / `server.start_servers` run vLLM as child processes; `client.SoupClient`
loads plain checkpoints or a pool of resident expert shards, applies a verified soup and generates;
`memory_plan.plan_memory` checks a config fits before anything starts; `worker_ext.SoupWorkerExtension` is the part
that runs inside vLLM's worker. vLLM itself is only ever imported by the server process.
"""

from soce_bo.serve.client import PlainInfo, PoolInfo, SoupClient, SwapInfo
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.memory_plan import MemoryPlan, plan_memory
from soce_bo.serve.server import ServerPool, SoupServer, start_servers

__all__ = ["MemoryPlan", "PlainInfo", "PoolInfo", "ServerConfig", "ServerPool", "SoupClient", "SoupServer", "SwapInfo",
           "plan_memory", "start_servers"]
