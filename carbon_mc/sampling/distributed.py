"""Past one machine: join a multi-process run on JAX's own runtime (``jax.distributed``), one process per host.

After `initialize`, ``jax.devices()`` lists every process's devices: `carbon_mc.estimate_summary`
(and `stream_summary`, `stream_to_precision`) shard their draws over all of them and merge the
histograms across processes, and `carbon_mc.sensitivity` splits its design's chunks between the
processes; both give the same numbers as one process for the same seed (tests/test_multiprocess.py).
`draw` and `estimate`, which bring every draw back, use each process's local devices.

On a CPU the cross-process collectives need Gloo (``jax_cpu_collectives_implementation``), which
`initialize` selects; on GPUs and TPUs JAX uses its own. Under SLURM or on a Cloud TPU pod,
``jax.distributed.initialize()`` finds the coordinator by itself: call `initialize()` without
arguments. Elsewhere (Kubernetes, plain ssh) give the coordinator's address, the number of
processes and this process's index, e.g. from environment variables set by the job. See README.md.
"""

from __future__ import annotations

import jax


def initialize(coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None) -> None:
    """Join the multi-process run; call once per process, before any carbon-mc computation."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id)


def is_leader() -> bool:
    """True in the process that should print and write files (process 0)."""
    return jax.process_index() == 0
