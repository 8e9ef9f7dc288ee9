"""Build objects from config nodes so that a bad setting is one clear error, not a Hydra trace."""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from soce_bo.errors import ConfigError, SoceError


def build(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate(node, **kwargs); errors name the config key `where`.

    A SoceError raised by the constructor already names its culprit and passes through as is;
    anything else (an unknown keyword, a wrong type, a missing class) becomes a ConfigError.
    """
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, SoceError):
            raise cause from None
        detail = str(cause) if cause is not None else str(err).strip().splitlines()[-1]
        raise ConfigError(f"{where}: cannot build {node.get('_target_')}: {detail}") from None
    except SoceError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: cannot build {node.get('_target_')}: {err}") from None
