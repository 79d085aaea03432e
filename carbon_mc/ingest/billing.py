"""A cloud bill's accelerator hours -> device-hours: the AWS Cost and Usage Report (CUR).

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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import CarbonMCError, InputError
from ..priors.hardware_names import instance_type, load_aliases, resolve_instance
from .tables import Row, read_rows

COLUMNS = {  # legacy CUR name: (CUR 2.0 / Athena names)
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
        for column, pick in (("lineItem/UsageStartDate", min), ("lineItem/UsageEndDate", max)):
            if (row.get(column) or "").strip():
                stamp = row.time(column)
                attr = "start" if pick is min else "end"
                current = getattr(usage, attr)
                setattr(usage, attr, stamp if current is None else pick(current, stamp))
    kept = [u for u in usages.values() if u.instance_hours > 0]
    if not kept:
        raise CarbonMCError(f"no accelerator instance hours in this bill (left out: {_text(skipped)}); carbon-mc reads "
                            "EC2 BoxUsage/SpotUsage/DedicatedUsage rows of accelerated instance types", file=file)
    return Bill(file, kept, skipped)


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
