"""Past one machine on JAX's own runtime: 2 and 4 processes (jax.distributed, loopback) give one process's numbers.

Each process is a child with its own CPU devices; they meet at a coordinator on 127.0.0.1 and run
`estimate_summary` (draws sharded over every process's devices, histograms merged across them) and
a Sobol' design (chunks split between the processes). Process 0 writes what it got; the test
compares it, exactly, with a single process.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from carbon_mc.sampling import initialize_distributed
    pid, n, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if n > 1:
        initialize_distributed(f"127.0.0.1:{port}", n, pid)
    import jax
    import carbon_mc
    ds = carbon_mc.estimate_summary("gpt3_175b", num_draws=3 * 65536 + 12345, seed=7, variables=["energy_mwh", "total_tco2e"])
    si = carbon_mc.sensitivity("llama_65b", num_base=1024, seed=2, num_resamples=0, chunk_size=4096)
    if pid == 0:
        with open(out, "w") as fh:
            json.dump({"devices": len(jax.devices()), "processes": jax.process_count(),
                       "summary": {k: ds[k].values.tolist() for k in ("energy_mwh", "total_tco2e")},
                       "sobol": si["sobol_index"].values.tolist()}, fh)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, processes: int, devices_per_process: int) -> dict:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / f"result_{processes}.json"
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}",
           "CARBON_MC_COMPILATION_CACHE": "0"}
    port = str(_free_port())
    children = [subprocess.Popen([sys.executable, str(script), str(i), str(processes), port, str(out)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(processes)]
    for child in children:
        _, err = child.communicate(timeout=600)
        assert child.returncode == 0, err[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("one"), 1, 1)


@pytest.mark.parametrize("processes,devices_per_process", [(2, 1), (4, 1), (2, 2)])
def test_several_processes_give_one_process_numbers(single, tmp_path, processes, devices_per_process):
    got = _run(tmp_path, processes, devices_per_process)
    assert got["processes"] == processes and got["devices"] == processes * devices_per_process
    for k in ("energy_mwh", "total_tco2e"):
        np.testing.assert_array_equal(got["summary"][k], single["summary"][k], err_msg=k)
    np.testing.assert_array_equal(got["sobol"], single["sobol"])
