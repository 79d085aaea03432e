"""Write the example measurement files of examples/ (synthetic, seeded): python examples/make_examples.py

The values are made up in the layout each tool writes, for trying `carbon-mc import`; they are
not measurements of a real run.
"""

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
START = datetime(2024, 3, 4, 9, 0, 0)


def nvidia_smi(path: Path, gpus: int = 4, hours: float = 3.0, step_s: int = 60, seed: int = 0) -> None:
    """nvidia-smi --query-gpu=timestamp,index,name,power.draw,power.limit,utilization.gpu --format=csv -l 60"""
    rng = np.random.default_rng(seed)
    lines = ["timestamp, index, name, power.draw [W], power.limit [W], utilization.gpu [%]"]
    for k in range(int(hours * 3600 / step_s) + 1):
        t = START + timedelta(seconds=k * step_s)
        checkpoint = (k * step_s) % 3600 < 120  # two minutes of checkpointing each hour
        for i in range(gpus):
            watts = 150 + rng.normal(0, 10) if checkpoint else 540 + rng.normal(0, 40)
            util = 5 if checkpoint else int(rng.integers(92, 101))
            lines.append(f"{t:%Y/%m/%d %H:%M:%S}.{k % 1000:03d}, {i}, NVIDIA H100 80GB HBM3, {watts:.2f} W, 700.00 W, {util} %")
    path.write_text("\n".join(lines) + "\n")


def electricity_maps(path: Path, days: int = 7, seed: int = 1) -> None:
    """An hourly export in the Electricity Maps layout (zone FR), a daily cycle plus noise."""
    rng = np.random.default_rng(seed)
    head = ("Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
            "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,Data Estimated,"
            "Data Estimation Method")
    lines = [head]
    t0 = datetime(2024, 3, 1)
    for h in range(days * 24):
        t = t0 + timedelta(hours=h)
        lca = 45 + 18 * np.sin(2 * np.pi * (t.hour - 13) / 24) + rng.normal(0, 4)
        direct = 0.55 * lca
        lines.append(f"{t:%Y-%m-%d %H:%M:%S},France,France,FR,{direct:.2f},{lca:.2f},92.1,28.4,entsoe.eu,false,")
    path.write_text("\n".join(lines) + "\n")


def codecarbon(path: Path) -> None:
    """Two nodes of 8 x A100-SXM4-80GB for 24 h in Quebec; node 1 also flushed at 12 h (cumulative rows)."""
    head = ("timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,cpu_energy,"
            "gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,region,cloud_provider,cloud_region,os,"
            "python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,"
            "tracking_mode,on_cloud,pue")
    rows = []
    for run_id, hours, gpu_w in (("4f1c7a2e-1b0d-4c1e-9a57-0d6f3c2b8e11", 12, 2496.0),
                                 ("4f1c7a2e-1b0d-4c1e-9a57-0d6f3c2b8e11", 24, 2480.0),
                                 ("b83e90d4-6a2f-4f0b-8d1e-5c7a9e4f2d30", 24, 2465.0)):
        cpu_w, ram_w = 210.0, 377.8
        cpu_e, gpu_e, ram_e = cpu_w * hours / 1000, gpu_w * hours / 1000, ram_w * hours / 1000
        energy = cpu_e + gpu_e + ram_e
        emissions = energy * 0.002377  # kg: CodeCarbon's Quebec factor, 2.377 g/kWh
        end = START + timedelta(hours=hours)
        rows.append(f"{end:%Y-%m-%dT%H:%M:%S},llm-finetune,{run_id},{hours * 3600:.3f},{emissions:.6f},{emissions / (hours * 3600):.6e},"
                    f"{cpu_w},{gpu_w},{ram_w},{cpu_e:.6f},{gpu_e:.6f},{ram_e:.6f},{energy:.6f},Canada,CAN,quebec,,,"
                    "Linux-5.15.0-113-generic-x86_64-with-glibc2.35,3.10.12,2.3.4,128,AMD EPYC 7763 64-Core Processor,8,"
                    "8 x NVIDIA A100-SXM4-80GB,-71.2,46.8,1007.4,machine,N,1.0")
    path.write_text(head + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    (HERE / "codecarbon").mkdir(exist_ok=True)
    (HERE / "power").mkdir(exist_ok=True)
    (HERE / "grid").mkdir(exist_ok=True)
    codecarbon(HERE / "codecarbon" / "emissions.csv")
    nvidia_smi(HERE / "power" / "nvidia-smi.csv")
    electricity_maps(HERE / "grid" / "electricitymaps_FR_2024-03_hourly.csv")
