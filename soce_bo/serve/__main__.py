"""`python -m soce_bo.serve 'models=[A,B,C]'` (or `pool=[A,B,C]`): start server(s), load the pool, serve until Ctrl-C.

Prints one URL per replica; point `python -m soce_bo.evaluate ... server.url=URL` (or the search)
at it. Stopping (Ctrl-C, SIGTERM) shuts every engine's whole process group down.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from soce_bo.atomic import atomic_write
from soce_bo.cli import hydra_cli
from soce_bo.errors import ConfigError
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.server import start_servers
from soce_bo.soup.validate import validate_pool

log = logging.getLogger("soce_bo.serve")


@hydra_cli("serve")
def main(cfg: DictConfig) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    raw = OmegaConf.to_container(cfg.models, resolve=True)
    pool = [str(Path(p).expanduser().resolve()) for p in ([raw] if isinstance(raw, str) else raw)]
    weights = OmegaConf.to_container(cfg.weights) if cfg.weights is not None else None
    validate_pool(pool, weights)
    server_cfg = ServerConfig.from_mapping(cfg.server)
    if server_cfg.url:
        raise ConfigError("server.url is for clients; `soce_bo.serve` starts its own servers")
    with start_servers(server_cfg, pool, int(cfg.replicas)) as servers:
        for server in servers.servers:
            with server.client() as client:
                info = client.load_pool(pool)
                line = (f"replica {server.replica}: {server.url} (pid {server.pgid}, "
                        f"{info.n_tensors} tensors x {len(pool)} experts")
                if weights is not None:
                    swap = client.apply(weights)
                    line += f", soup applied in {swap.wall_s * 1e3:.0f} ms"
            print(line + f"; log {server.log_path})", flush=True)
        registered = register(cfg.register_dir, servers.urls)
        print("serving; Ctrl-C to stop", flush=True)
        try:
            while True:
                for server in servers.servers:
                    server.check_alive()
                time.sleep(1.0)
        except KeyboardInterrupt:
            log.info("stopping %d server(s)", len(servers))
        finally:
            for path in registered:
                path.unlink(missing_ok=True)


def register(register_dir: str | None, urls: list[str]) -> list[Path]:
    """Write one `<host>-<port>.url` file per ready server, so a driver elsewhere can find it
    (`python -m soce_bo.run ... servers.url_dir=DIR`); written atomically, removed at shutdown."""
    if not register_dir:
        return []
    folder = Path(register_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for url in urls:
        name = url.split("://", 1)[-1].replace(":", "-").replace("/", "")
        paths.append(atomic_write(folder / f"{name}.url", url + "\n"))
    return paths


def _pool_alias(argv: list[str]) -> list[str]:
    """`pool=[...]` -> `models=[...]`: Hydra reads `pool=` as a choice in the conf/pool/ group."""
    return [("models=" + a[len("pool="):]) if a.startswith("pool=") else a for a in argv]


if __name__ == "__main__":
    sys.argv[1:] = _pool_alias(sys.argv[1:])
    main()
