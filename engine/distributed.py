"""Transition shim (removed when the front-ends call engine.api): the old home of the DDP
helpers (now engine.ddp), the rank probes (engine.ddp_env) and the launcher (engine.launch)."""

from engine.ddp import *  # noqa: F403
from engine.ddp_env import *  # noqa: F403
from engine.launch import check_topology, free_port, launch, torchrun_args  # noqa: F401
