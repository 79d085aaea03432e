"""A cloud bill's accelerator hours in: the AWS Cost and Usage Report (legacy and 2.0 headers) -> scenarios."""

import csv
import io
import json
import tomllib
from pathlib import Path

import pytest

from carbon_mc.cli import main
from carbon_mc.ingest.billing import read_aws_cur
from carbon_mc.priors import load_priors

CUR = Path(__file__).resolve().parents[1] / "examples" / "billing" / "aws_cur_2024-03.csv"
# The example bill: 8 p4de.24xlarge (8 x A100 80GB each) for 10 days of daily line items (5 on demand, 5 under a
# Savings Plan, each with its negation), 2 days of one on-demand g5.xlarge (24 h) and one spot g5.xlarge (12 h) in
# us-west-2, a head node m5.2xlarge, EBS, S3, data transfer and a tax line.
P4DE_DEVICE_HOURS = 8 * 10 * 24 * 8  # instances x days x hours x GPUs per instance = 15,360
G5_DEVICE_HOURS = 2 * (24 + 12) * 1  # = 72


def _rewrite(tmp_path, edit, *, name="cur.csv", encoding="utf-8") -> Path:
    """The example bill with `edit(header, rows)` applied, written to tmp_path."""
    rows = list(csv.reader(io.StringIO(CUR.read_text())))
    header, body = rows[0], rows[1:]
    header, body = edit(header, body)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *body])
    path = tmp_path / name
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def test_the_example_bill_gives_device_hours_per_instance_type_and_region():
    bill = read_aws_cur(CUR, load_priors().hardware)
    got = {(u.instance_type, u.region): (u.hardware, u.per_instance, u.device_hours, u.line_items) for u in bill.usages}
    assert got == {("p4de.24xlarge", "us-east-1"): ("a100_80gb", 8, P4DE_DEVICE_HOURS, 80),
                   ("g5.xlarge", "us-west-2"): ("a10g", 1, G5_DEVICE_HOURS, 4)}
    assert bill.skipped == {"usage line items that are not instance time (storage, transfer, other services)": 21,
                            "instance-hour line items of instance types without accelerators": 10,
                            "line items that are not usage (fees, taxes, credits, refunds, negations)": 41}
    p4de = bill.usages[0]
    assert (p4de.start.isoformat(), p4de.end.isoformat()) == ("2024-03-01T00:00:00+00:00", "2024-03-11T00:00:00+00:00")


def test_import_writes_one_scenario_each_validated_with_device_hours_only(tmp_path, capsys):
    out = tmp_path / "cur.toml"
    assert main(["import", "aws-cur", str(CUR), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["device_hours"] for s in summary["scenarios"]] == [P4DE_DEVICE_HOURS, G5_DEVICE_HOURS]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cur_g5.xlarge_us-west-2.toml", "cur_p4de.24xlarge_us-east-1.toml"]
    doc = tomllib.loads((tmp_path / "cur_p4de.24xlarge_us-east-1.toml").read_text())
    assert set(doc) == {"run"}  # no energy: nothing measured, nothing reported
    assert doc["run"] | {"name": None, "source": None} == {
        "name": None, "source": None, "hardware": "a100_80gb", "device_hours": 15360.0, "region": "aws:us-east-1",
        "datacenter": "aws", "year": 2024}


def test_cur_2_0_header_reads_the_same(tmp_path):
    snake = {"lineItem/UsageType": "line_item_usage_type", "lineItem/UsageAmount": "line_item_usage_amount",
             "lineItem/LineItemType": "line_item_line_item_type", "lineItem/UsageStartDate": "line_item_usage_start_date",
             "lineItem/UsageEndDate": "line_item_usage_end_date", "product/instanceType": "product_instance_type",
             "product/region": "product_region_code", "pricing/unit": "pricing_unit"}
    path = _rewrite(tmp_path, lambda h, rows: ([snake.get(c, c) for c in h], rows), encoding="utf-16")  # with a BOM
    bill = read_aws_cur(path, load_priors().hardware)
    assert [u.device_hours for u in bill.usages] == [P4DE_DEVICE_HOURS, G5_DEVICE_HOURS]


def test_merge_needs_one_accelerator_in_one_region_and_sums_instance_types(tmp_path, capsys):
    assert main(["import", "aws-cur", str(CUR), "-o", str(tmp_path / "m.toml"), "--merge"]) == 2
    err = capsys.readouterr().err
    assert "a100_80gb, a10g" in err and "us-east-1, us-west-2" in err and list(tmp_path.iterdir()) == []
    # only the us-west-2 g5 lines (on demand and spot): one scenario of 72 device-hours
    path = _rewrite(tmp_path, lambda h, rows: (h, [r for r in rows if r[h.index("product/region")] != "us-east-1"]))
    assert main(["import", "aws-cur", str(path), "-o", str(tmp_path / "m.toml"), "--merge"]) == 0
    assert tomllib.loads((tmp_path / "m.toml").read_text())["run"]["device_hours"] == G5_DEVICE_HOURS


def _negative(h, rows):
    rows[0][h.index("lineItem/UsageAmount")] = "-24"
    return h, rows


def _unknown_type(h, rows):
    for col in ("product/instanceType", "lineItem/UsageType"):
        rows[0][h.index(col)] = rows[0][h.index(col)].replace("p4de.24xlarge", "p4dx.24xlarge")
    return h, rows


def _disagree(h, rows):
    rows[0][h.index("product/instanceType")] = "p5.48xlarge"
    return h, rows


def _minutes(h, rows):
    rows[0][h.index("pricing/unit")] = "Minutes"
    return h, rows


@pytest.mark.parametrize("edit, needles", [
    (lambda h, rows: ([c for c in h if c != "lineItem/UsageAmount"], [r[:12] + r[13:] for r in rows]),
     ["missing column(s) 'lineItem/UsageAmount'"]),
    (_negative, ["row 2", "lineItem/UsageAmount", "'-24'"]),
    (_unknown_type, ["row 2", "unknown instance type", "p4de.24xlarge"]),
    (_disagree, ["row 2", "'p5.48xlarge'", "name different instances"]),
    (_minutes, ["row 2", "'Minutes'", "hours"]),
    (lambda h, rows: (h, [r for r in rows if "p4de" not in r[h.index("lineItem/UsageType")] and "g5" not in r[h.index("lineItem/UsageType")]]),
     ["no accelerator instance hours", "10 instance-hour line items of instance types without accelerators"]),
    (lambda h, rows: (h, [*rows[:3], rows[3][:7], *rows[4:]]), ["row 5", "7 cells where the header has 20"]),
])
def test_a_hostile_bill_is_one_clear_error_and_nothing_written(tmp_path, capsys, edit, needles):
    path = _rewrite(tmp_path, edit)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["import", "aws-cur", str(path), "-o", str(out / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert list(out.iterdir()) == []


def test_an_existing_scenario_is_kept_and_nothing_written(tmp_path, capsys):
    kept = tmp_path / "cur_g5.xlarge_us-west-2.toml"
    kept.write_text("keep me")
    assert main(["import", "aws-cur", str(CUR), "-o", str(tmp_path / "cur.toml")]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name] and kept.read_text() == "keep me"


# --- Google Cloud Billing export ----------------------------------------------------------------

GCP = CUR.with_name("gcp_billing_2024-05.csv")
# Two a2-highgpu-8g (16 A100 40GB) in us-central1 for 48 hourly rows, 4 spot T4 in europe-west4 for 12, their cores
# and RAM, one commitment fee, a storage row and a tax row.


def test_the_example_gcp_export_gives_gpu_hours_per_gpu_and_region():
    from carbon_mc.ingest.billing import read_gcp_billing

    bill = read_gcp_billing(GCP, load_priors().hardware)
    got = {(u.instance_type, u.region): (u.hardware, u.device_hours, u.line_items) for u in bill.usages}
    assert got == {("Nvidia Tesla A100", "us-central1"): ("a100_40gb", 16 * 48, 48),
                   ("Nvidia Tesla T4", "europe-west4"): ("t4", 4 * 12, 12)}
    assert bill.skipped == {"rows of SKUs that are not GPU time (cores, memory, disks, other services)": 97,
                            "commitment fee rows (the GPU use is billed under its own SKU)": 1,
                            "rows that are not usage (tax, adjustment, rounding error)": 1}
    a100 = bill.usages[0]
    assert (a100.start.isoformat(), a100.end.isoformat()) == ("2024-05-06T00:00:00+00:00", "2024-05-08T00:00:00+00:00")


def _gcp_rewrite(tmp_path, edit) -> Path:
    rows = list(csv.reader(io.StringIO(GCP.read_text())))
    header, body = edit(rows[0], rows[1:])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *body])
    path = tmp_path / "gcp.csv"
    path.write_text(buf.getvalue())
    return path


def test_gcp_import_writes_a_scenario_per_gpu_and_reads_underscored_headers(tmp_path):
    path = _gcp_rewrite(tmp_path, lambda h, rows: ([c.replace(".", "_") for c in h], rows))
    out = tmp_path / "g.toml"
    assert main(["import", "gcp-billing", str(path), "-o", str(out)]) == 0
    doc = tomllib.loads((tmp_path / "g_Nvidia-Tesla-A100_us-central1.toml").read_text())
    assert (doc["run"]["hardware"], doc["run"]["device_hours"], doc["run"]["region"], doc["run"]["datacenter"]) == (
        "a100_40gb", 768.0, "gcp:us-central1", "google")
    assert (tmp_path / "g_Nvidia-Tesla-T4_europe-west4.toml").exists()


def _gcp_cell(column, value, row=0):
    def edit(h, rows):
        rows[row][h.index(column)] = value
        return h, rows
    return edit


@pytest.mark.parametrize("edit, needles", [
    (_gcp_cell("sku.description", "Nvidia Tesla A10 GPU running in Americas"), ["row 2", "'Nvidia Tesla A10'", "did you mean"]),
    (_gcp_cell("usage.pricing_unit", "second"), ["row 2", "'second'", "hours"]),
    (_gcp_cell("usage.amount_in_pricing_units", "-16"), ["row 2", "'-16'"]),
    (lambda h, rows: ([c for c in h if c != "sku.description"], [r[:3] + r[4:] for r in rows]), ["missing column(s) 'sku.description'"]),
])
def test_a_hostile_gcp_export_is_one_clear_error_and_nothing_written(tmp_path, capsys, edit, needles):
    path = _gcp_rewrite(tmp_path, edit)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["import", "gcp-billing", str(path), "-o", str(out / "g.toml")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert list(out.iterdir()) == []
