"""A cloud bill's accelerator hours -> device-hours: the AWS Cost and Usage Report (CUR) and the
Google Cloud Billing export.

Format, as AWS documents it (AWS Data Exports user guide, "Line item details" and "Product details"
of the legacy CUR, https://docs.aws.amazon.com/cur/latest/userguide/Lineitem-columns.html, and the
CUR 2.0 table dictionary, https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html):
one row per line item; ``lineItem/LineItemType`` says what the row is (``Usage`` on demand,
``DiscountedUsage`` under a Reserved Instance, ``SavingsPlanCoveredUsage`` under a Savings Plan; the
fees, taxes, credits, refunds and negations are money, not usage); ``lineItem/UsageType`` names the
usage, for EC2 instance time "<region prefix>-BoxUsage:<instance type>" (also ``SpotUsage``,
``DedicatedUsage``; us-east-1 has no prefix); ``lineItem/UsageAmount`` is the amount in the pricing
unit, hours (``pricing/unit`` "Hrs") for instance time; ``product/instanceType`` and
``product/region`` (a region id such as us-east-1) describe the product; ``lineItem/UsageStartDate``
and ``lineItem/UsageEndDate`` bound the line item. CUR 2.0 writes the same columns in snake case
(``line_item_usage_type``, ``line_item_usage_amount``, ``product_instance_type``,
``product_region_code``, ...); both headers are read.

What is kept: instance-hour rows of instance types whose accelerators the alias table knows
(priors/hardware_aliases.toml, [instances]); device-hours = instance-hours x accelerators per
instance. Everything else is counted and said (other line item types, other usage, instances
without accelerators), never silently dropped. An accelerated instance type (p, g, trn, inf, dl
families) the table does not know is an error naming close matches. The bill holds no energy:
the scenario's basis is device-hours, and the run estimates the energy from its priors.

Google Cloud, as it documents its billing export ("Structure of Standard data export",
https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage): one row per
SKU, project and hour; ``sku.description`` names the SKU ("Nvidia Tesla A100 GPU running in
Americas"), ``usage.amount_in_pricing_units`` is its amount in ``usage.pricing_unit`` ("hour" for a
GPU: each GPU is billed on its own, so the amount is device-hours), ``location.region`` the region
(us-central1), ``cost_type`` "regular" for usage (tax, adjustment and rounding rows are money),
``usage_start_time`` and ``usage_end_time`` its hour. A CSV of it (a BigQuery query's result) may
write the nested names with a dot or an underscore; both are read. GPU SKU names resolve through
gcp_gpu_skus.toml (form factor and memory per machine family); commitment SKUs are fees (the use is
billed under its own SKU) and are left out, counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import CarbonMCError, InputError, close_matches
from ..priors.hardware_names import instance_type, load_aliases, resolve_instance
from .tables import Row, read_rows

COLUMNS: dict[str, tuple[str, ...]] = {  # legacy CUR name: (CUR 2.0 / Athena names)
    "lineItem/UsageType": ("line_item_usage_type",),
    "lineItem/UsageAmount": ("line_item_usage_amount",),
    "lineItem/LineItemType": ("line_item_line_item_type",),
    "lineItem/UsageStartDate": ("line_item_usage_start_date",),
    "lineItem/UsageEndDate": ("line_item_usage_end_date",),
    "product/instanceType": ("product_instance_type",),
    "product/region": ("product_region_code", "product_region"),
    "pricing/unit": ("pricing_unit",),
}
REQUIRED = ("lineItem/UsageType", "lineItem/UsageAmount")
USAGE_LINE_ITEMS = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage")  # instance time run; the rest is money
INSTANCE_TIME = re.compile(r"^(?:[A-Z]{2,4}\d?-)?(BoxUsage|SpotUsage|DedicatedUsage)(?::(.+))?$")
ACCELERATED_FAMILY = re.compile(r"^(p\d|g\d|trn\d|inf\d|dl\d)", re.IGNORECASE)  # EC2 accelerated computing families
HOUR_UNITS = ("hrs", "hours", "hour", "hr")


@dataclass
class BilledUsage:
    """One instance type's hours in one region, summed over the bill's line items."""

    file: str
    instance_type: str
    region: str | None  # the region id as billed (us-east-1), None when the bill has no region column
    hardware: str
    per_instance: int  # accelerators one instance holds
    instance_hours: float = 0.0
    line_items: int = 0
    start: datetime | None = None
    end: datetime | None = None

    @property
    def device_hours(self) -> float:
        """Accelerator-hours: instance-hours x accelerators per instance."""
        return self.instance_hours * self.per_instance


@dataclass
class Bill:
    """What an AWS CUR file says about accelerator use: the usages kept and what was left out, counted."""

    file: str
    usages: list[BilledUsage]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> line items

    def skipped_text(self) -> str:
        return _text(self.skipped)


def read_aws_cur(path, hardware) -> Bill:
    """Read an AWS Cost and Usage Report CSV (legacy or 2.0 header) into accelerator usage per
    (instance type, region), in the order first billed.

    Args:
        path: the CUR CSV (UTF-8 or UTF-16 with BOM).
        hardware: the prior table's accelerators (``table.hardware``) instance types resolve into.

    Raises:
      CarbonMCError: missing columns, a bad cell (negative or non-numeric hours, a unit that is not
        hours on instance time), an accelerated instance type the table does not know (close matches
        named), an instance type that disagrees with its usage type, or no accelerator hours at all.
    """
    rows, _ = read_rows(path, required=REQUIRED, aliases=COLUMNS)
    file = rows[0].file
    aliases = load_aliases()
    usages: dict[tuple[str, str | None], BilledUsage] = {}
    skipped: dict[str, int] = {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    for row in rows:
        kind = (row.get("lineItem/LineItemType") or "Usage").strip()
        if kind not in USAGE_LINE_ITEMS:
            skip("line items that are not usage (fees, taxes, credits, refunds, negations)")
            continue
        match = INSTANCE_TIME.match(row.text("lineItem/UsageType"))
        if not match:
            skip("usage line items that are not instance time (storage, transfer, other services)")
            continue
        name = _instance_name(row, match.group(2))
        if name is None:
            skip("instance-hour line items without an instance type")
            continue
        known = instance_type(name, aliases)
        if known is None and not ACCELERATED_FAMILY.match(name):
            skip("instance-hour line items of instance types without accelerators")
            continue
        try:
            key, per_instance = resolve_instance(name, hardware, aliases=aliases, file=file, key=row.where("product/instanceType"))
        except InputError as exc:
            raise CarbonMCError(exc.message + " (an accelerated instance type: add it to [instances] of hardware_aliases.toml "
                                "in a priors overlay)", file=file, key=row.where("product/instanceType")) from None
        if str(hardware[key].get("power_class", "")).startswith("cpu"):
            skip("instance-hour line items of CPU-only instance types")
            continue
        unit = (row.get("pricing/unit") or "").strip()
        if unit and unit.lower() not in HOUR_UNITS:
            raise row.error("pricing/unit", f"instance time billed in {unit!r}; expected hours ('Hrs')")
        hours = row.number("lineItem/UsageAmount")
        region = (row.get("product/region") or "").strip() or None
        usage = usages.setdefault((name, region), BilledUsage(file, name, region, key, per_instance))
        usage.instance_hours += hours
        usage.line_items += 1
        _widen_period(usage, row, "lineItem/UsageStartDate", "lineItem/UsageEndDate")
    kept = [u for u in usages.values() if u.instance_hours > 0]
    if not kept:
        raise CarbonMCError(f"no accelerator instance hours in this bill (left out: {_text(skipped)}); carbon-mc reads "
                            "EC2 BoxUsage/SpotUsage/DedicatedUsage rows of accelerated instance types", file=file)
    return Bill(file, kept, skipped)


def _widen_period(usage, row: Row, start_column: str, end_column: str) -> None:
    """Stretch `usage`'s billed period (start, end) to cover the row's start and end times, where given."""
    for column, attr, pick in ((start_column, "start", min), (end_column, "end", max)):
        if (row.get(column) or "").strip():
            stamp = row.time(column)
            current = getattr(usage, attr)
            setattr(usage, attr, stamp if current is None else pick(current, stamp))


def _instance_name(row: Row, from_usage_type: str | None) -> str | None:
    """The row's instance type: product/instanceType, which must agree with the usage type's suffix."""
    product = (row.get("product/instanceType") or "").strip() or None
    if product and from_usage_type and product.lower() != from_usage_type.strip().lower():
        raise row.error("product/instanceType", f"instance type {product!r} but usage type {row.get('lineItem/UsageType')!r}: "
                                                "the two name different instances")
    return product or (from_usage_type.strip() if from_usage_type else None)


def _text(skipped: dict[str, int]) -> str:
    return "; ".join(f"{n:,} {why}" for why, n in skipped.items()) or "nothing"


def merged(bill: Bill) -> BilledUsage:
    """The bill's usages as one run: one accelerator and one region, else an error naming them."""
    hardware = sorted({u.hardware for u in bill.usages})
    regions = sorted({u.region or "" for u in bill.usages})
    if len(hardware) > 1 or len(regions) > 1:
        raise CarbonMCError(f"--merge takes the bill as one run, which needs one accelerator and one region; it has "
                            f"{', '.join(hardware)} in {', '.join(r or '(no region)' for r in regions)}: import without "
                            "--merge (one scenario per instance type and region)", file=bill.file, key="--merge")
    first = bill.usages[0]
    out = BilledUsage(bill.file, "+".join(dict.fromkeys(u.instance_type for u in bill.usages)), first.region, first.hardware, 1)
    out.instance_hours = sum(u.device_hours for u in bill.usages)  # counted in accelerators, per_instance 1
    out.line_items = sum(u.line_items for u in bill.usages)
    starts = [u.start for u in bill.usages if u.start]
    ends = [u.end for u in bill.usages if u.end]
    out.start, out.end = (min(starts) if starts else None), (max(ends) if ends else None)
    return out


GCP_COLUMNS: dict[str, tuple[str, ...]] = {  # documented (nested) name: the names a flattened CSV may write
    "sku.description": ("sku_description",),
    "usage.amount_in_pricing_units": ("usage_amount_in_pricing_units",),
    "usage.pricing_unit": ("usage_pricing_unit",),
    "location.region": ("location_region",),
    "cost_type": ("cost.type",),
    "usage_start_time": ("usage.start_time",),
    "usage_end_time": ("usage.end_time",),
}
GCP_REQUIRED = ("sku.description", "usage.amount_in_pricing_units", "usage.pricing_unit")
GCP_GPU_SKU = re.compile(r"^(?P<commitment>commitment[^:]*:\s*)?(?P<gpu>nvidia\s.+?)\s+gpu\b(?P<rest>.*)$", re.IGNORECASE)
GCP_SKU_FILE = "gcp_gpu_skus.toml"


def gcp_gpu_skus() -> dict[str, str]:
    """GPU name in a Google Cloud SKU description -> accelerator key (gcp_gpu_skus.toml beside this module)."""
    import tomllib
    from pathlib import Path

    with open(Path(__file__).with_name(GCP_SKU_FILE), "rb") as fh:
        return dict(tomllib.load(fh)["skus"])


def read_gcp_billing(path, hardware) -> Bill:
    """Read a Google Cloud Billing export CSV into GPU-hours per (GPU, region), in the order first billed.

    Raises:
      CarbonMCError: missing columns, a bad cell (negative or non-numeric amount, a GPU SKU priced in
        another unit than hours), a GPU the SKU table does not know (close matches named) or whose key
        the prior table lacks, or no GPU hours at all.
    """
    rows, _ = read_rows(path, required=GCP_REQUIRED, aliases=GCP_COLUMNS)
    file = rows[0].file
    skus = gcp_gpu_skus()
    by_lower = {name.lower(): name for name in skus}
    usages: dict[tuple[str, str | None], BilledUsage] = {}
    skipped: dict[str, int] = {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    for row in rows:
        if (row.get("cost_type") or "regular").strip().lower() != "regular":
            skip("rows that are not usage (tax, adjustment, rounding error)")
            continue
        match = GCP_GPU_SKU.match(row.text("sku.description"))
        if not match:
            skip("rows of SKUs that are not GPU time (cores, memory, disks, other services)")
            continue
        if match.group("commitment"):
            skip("commitment fee rows (the GPU use is billed under its own SKU)")
            continue
        gpu = " ".join(match.group("gpu").split())
        name = by_lower.get(gpu.lower())
        if name is None:
            raise row.error("sku.description", f"GPU {gpu!r} is not in {GCP_SKU_FILE}; {close_matches(gpu, list(skus))}")
        key = skus[name]
        if key not in hardware:
            raise row.error("sku.description", f"{name!r} is {key!r} ({GCP_SKU_FILE}), which this prior table does not have")
        unit = row.text("usage.pricing_unit")
        if unit.strip().lower() not in HOUR_UNITS:
            raise row.error("usage.pricing_unit", f"GPU time priced in {unit!r}; expected hours ('hour')")
        hours = row.number("usage.amount_in_pricing_units")
        region = (row.get("location.region") or "").strip() or None
        usage = usages.setdefault((name, region), BilledUsage(file, name, region, key, 1))
        usage.instance_hours += hours
        usage.line_items += 1
        _widen_period(usage, row, "usage_start_time", "usage_end_time")
    kept = [u for u in usages.values() if u.instance_hours > 0]
    if not kept:
        raise CarbonMCError(f"no GPU hours in this billing export (left out: {_text(skipped)}); carbon-mc reads the "
                            "'Nvidia ... GPU running in ...' SKUs of Compute Engine", file=file)
    return Bill(file, kept, skipped)
