"""Build priors/grid_places.toml and priors/place_aliases.toml from the tables in priors/sources/.

Run from anywhere:  python priors/build/build_places.py [OUTPUT_DIR]
(OUTPUT_DIR defaults to priors/). Standard library only; the output is a pure function of the
CSV files in priors/sources/ and of the variant keys already in priors/grid.toml, so two runs
give byte-identical files. priors/sources/SOURCES.md says where each table came from.

What it writes
--------------
grid_places.toml: variants of `grid_gco2_per_kwh` (units g/kWh, location-based annual average),
all log-normal, for
  1. countries: Ember via Our World in Data, "carbon intensity of electricity" (lifecycle
     gCO2e/kWh), 2015-2024. Key = the English name in snake_case (``south_korea``).
  2. sub-national grids: Electricity Maps yearly averages 2021-2025 (lifecycle gCO2eq/kWh) for
     zones that are part of a country (Australian states, Canadian provinces, US balancing
     authorities, Japanese, Indian, Italian, Brazilian, Nordic bidding zones, ...). Key = the
     zone's English name in snake_case (``new_south_wales``, ``pjm_interconnection``); when that
     name is taken, the zone code (``us_ak``).
  3. US states: CodeCarbon's state table (lb CO2/MWh, filed under 2016), converted with
     1 lb/MWh = 0.45359237 g/kWh. Key = the state's name (``new_york``; ``georgia_us`` because
     ``georgia`` is the country).
  4. cloud regions ``aws:<id>``, ``azure:<id>``, ``gcp:<id>``, ``oracle:<id>``: the prior of the
     grid the region draws from (``maps_to``), copied, with the mapping's source and, where the
     provider publishes one (Google), the provider's own figure and its years.
Every variant has ``year`` (the latest year of data), ``by_year`` (the source's value for every
year the source gives; cloud regions: those of the grid they map to) and a ``source`` naming the
dataset, the year and the licence.

Median = the value of the latest year. Sigma (sd of the natural log):
  - countries and sub-national zones: the sample sd of ln(value) over the last five years of
    data (n-1 in the denominator), floored at 0.05 (fossil grids: definition alone moves them
    5-15%) or at 0.2 where the median is under 100 g/kWh (hydro/nuclear/wind grids, whose
    lifecycle uplift and weather swings are large relative to the value), the floors of
    priors/grid.toml;
  - US states (one year of data): the same floors, or |ln| of the change of the US national
    Ember value between the state table's year and the latest year, if larger (how stale the
    state value may be);
  - cloud regions: the sigma of the grid they map to.
Variant keys that priors/grid.toml already defines are not redefined: their year tables go to
place_aliases.toml under [series.<key>] so that a run's year can still be picked.

place_aliases.toml: [aliases] (a normalised name -> variant key: ISO 3166 alpha-2 and alpha-3
codes, common spellings, US postal codes where they are not also an ISO country code, ISO
3166-2 / Electricity Maps zone codes, bare cloud region ids that only one provider uses),
[falls_back_to] (key -> the wider grid: state or zone -> country, cloud region -> its grid,
country -> world) and [series.<key>] (above). Names are normalised as
`carbon_mc.priors.places.normalise` does: accents dropped, lower case, runs of spaces and
underscores -> one underscore.
"""

from __future__ import annotations

import csv
import math
import sys
import tomllib
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRIORS = HERE.parent
SOURCES = PRIORS / "sources"
LB_PER_MWH_TO_G_PER_KWH = 0.45359237
SIGMA_FLOOR, SIGMA_FLOOR_LOW_CARBON, LOW_CARBON_BELOW = 0.05, 0.2, 100.0
LAST_YEARS = 5

OWID = "Ember via Our World in Data, 'Carbon intensity of electricity' (lifecycle gCO2e/kWh), CC BY 4.0"
EMAPS = "Electricity Maps yearly carbon intensity (lifecycle gCO2eq/kWh) as republished in thegreenwebfoundation/co2.js, ODbL 1.0"
CODECARBON_US = "CodeCarbon private_infra/2016/usa_emissions.json (lb CO2/MWh per state, filed under 2016), MIT"
GOOGLE = "Google Cloud region carbon data (GoogleCloudPlatform/region-carbon-info, 'Grid carbon intensity', operational gCO2eq/kWh), Apache-2.0"
PROVIDERS = {"aws": "AWS", "azure": "Microsoft Azure", "gcp": "Google Cloud", "oracle": "Oracle Cloud Infrastructure"}

# Country names in the Ember/OWID table that snake_case badly, and well-known extra spellings.
NAME_FIXES = {"Micronesia (country)": "Micronesia", "Cote d'Ivoire": "Cote dIvoire"}
EXTRA_ALIASES = {
    "world": ["wor", "global", "owid_wrl"],
    "united_states": ["usa", "us", "u.s.", "u.s.a.", "united_states_of_america", "america"],
    "germany": ["deutschland"], "united_kingdom": ["uk", "u.k.", "great_britain", "britain"],
    "south_korea": ["korea", "republic_of_korea", "korea,_republic_of"], "united_arab_emirates": ["uae", "u.a.e."],
    "spain": ["espana"], "italy": ["italia"], "brazil": ["brasil"], "switzerland": ["schweiz", "suisse", "svizzera"],
    "netherlands": ["nederland", "holland", "the_netherlands"], "czechia": ["czech_republic"],
    "cote_divoire": ["ivory_coast", "cote_d'ivoire"], "turkey": ["turkiye"], "austria": ["osterreich"],
    "sweden": ["sverige"], "norway": ["norge"], "finland": ["suomi"], "poland": ["polska"], "france": ["republique_francaise"],
    "russia": ["russian_federation"], "japan": ["nippon"], "china": ["prc", "people's_republic_of_china"],
    "mexico": ["estados_unidos_mexicanos"], "saudi_arabia": ["ksa"], "south_africa": ["rsa"],
    "quebec": ["montreal"], "ontario": ["toronto"], "new_south_wales": ["sydney", "nsw"], "victoria": ["melbourne", "vic"],
    "queensland": ["qld", "brisbane"], "western_australia": ["perth"], "south_australia": ["adelaide"], "tasmania": ["tas"],
    "california": ["los_angeles", "san_francisco", "san_jose"], "washington": ["seattle", "washington_state"],
}
CITY_ALIASES = {  # city -> grid, only where the city lies in one grid of the tables
    "madrid": "spain", "seoul": "south_korea", "milan": "north_italy", "sao_paulo": "central_brazil",
    "paris": "france", "frankfurt": "germany", "london": "united_kingdom", "dublin": "ireland", "tokyo": "tokyo",
    "osaka": "kansai", "mumbai": "western_india", "singapore": "singapore", "zurich": "switzerland",
    "amsterdam": "netherlands", "stockholm": "south-central_sweden", "warsaw": "poland", "johannesburg": "south_africa",
    "tel_aviv": "israel", "doha": "qatar", "dubai": "united_arab_emirates", "abu_dhabi": "united_arab_emirates",
    "riyadh": "saudi_arabia", "jeddah": "saudi_arabia", "dammam": "saudi_arabia", "brussels": "belgium",
    "hong_kong": "hong_kong", "jakarta": "indonesia", "santiago": "chile", "queretaro": "mexico", "taipei": "taiwan",
}


def normalise(name: str) -> str:
    """Accents dropped, lower case, runs of spaces/underscores -> '_' (as carbon_mc.priors.places)."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().strip()
    return "_".join(text.replace("_", " ").split())


def snake(name: str) -> str:
    """A variant key from an English name: accents dropped, lower case, words joined by '_'."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = "".join(c if c.isalnum() else " " for c in text.replace("'", ""))
    return "_".join(text.split())


def read_csv(name: str) -> list[dict]:
    with open(SOURCES / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def num(x: float) -> str:
    """A TOML float, short and stable: 4 significant digits after rounding to 0.01."""
    value = round(float(x), 2)
    text = repr(value)
    return text if "e" not in text else f"{value:.6f}".rstrip("0")


def sigma_from(series: dict[int, float], median: float) -> tuple[float, float | None, list[int]]:
    """(sigma, sd of ln over the last five years or None, those years) with the floors above."""
    years = sorted(series)[-LAST_YEARS:]
    logs = [math.log(series[y]) for y in years if series[y] > 0]
    sd = None
    if len(logs) >= 2:
        mean = sum(logs) / len(logs)
        sd = math.sqrt(sum((v - mean) ** 2 for v in logs) / (len(logs) - 1))
    floor = SIGMA_FLOOR_LOW_CARBON if median < LOW_CARBON_BELOW else SIGMA_FLOOR
    return round(max(floor, sd or 0.0), 3), sd, years


def toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_key(key: str) -> str:
    return key if all(c.isalnum() or c in "_-" for c in key) else toml_str(key)


def by_year_table(series: dict[int, float]) -> str:
    return "{ " + ", ".join(f"{y} = {num(series[y])}" for y in sorted(series)) + " }"


def existing_keys() -> set[str]:
    keys = set()
    for name in ("grid.toml",):
        doc = tomllib.loads((PRIORS / name).read_text(encoding="utf-8"))
        keys |= set(doc["grid_gco2_per_kwh"]["variants"])
    return keys


def build(out_dir: Path) -> dict:
    existing = existing_keys()
    places: dict[str, dict] = {}  # key -> record
    series_only: dict[str, dict] = {}
    aliases: dict[str, str] = {}
    fallback: dict[str, str] = {}
    skipped: list[str] = []

    def add(key: str, record: dict) -> None:
        if key in existing:
            skipped.append(key)
            series_only[key] = record
        else:
            places[key] = record

    # ---- ISO codes ---------------------------------------------------------------------------
    iso = {r["alpha3"]: r for r in read_csv("iso3166_countries.csv") if r["alpha3"]}
    alpha2_of = {a3: r["alpha2"] for a3, r in iso.items() if r["alpha2"]}
    iso_alpha2 = {r["alpha2"].lower() for r in iso.values() if r["alpha2"]}

    # ---- 1. countries (Ember via OWID) -------------------------------------------------------
    owid: dict[str, dict] = {}
    for r in read_csv("owid_carbon_intensity_electricity.csv"):
        owid.setdefault(r["code"], {"entity": r["entity"], "series": {}})["series"][int(r["year"])] = float(r["gco2e_per_kwh"])
    country_key: dict[str, str] = {}  # alpha-3 -> key
    for code in sorted(owid):
        entity, series = owid[code]["entity"], owid[code]["series"]
        key = "world" if code == "OWID_WRL" else snake(NAME_FIXES.get(entity, entity))
        latest = max(series)
        median = series[latest]
        if median <= 0:
            continue
        sigma, sd, years = sigma_from(series, median)
        country_key[code] = key
        add(key, {
            "kind": "country", "name": entity, "median": median, "sigma": sigma, "year": latest, "series": series,
            "description": f"{entity}, Ember via OWID {latest}: {num(median)} gCO2e/kWh (lifecycle, generation-based). "
                           f"sigma {sigma} = sd of ln over {years[0]}-{years[-1]} ({'n/a' if sd is None else round(sd, 3)}), "
                           f"floor {SIGMA_FLOOR_LOW_CARBON if median < LOW_CARBON_BELOW else SIGMA_FLOOR}.",
            "source": f"{OWID}; {entity} {latest} (series {min(series)}-{latest})",
        })
        fallback[key] = "world" if key != "world" else ""
        if key != "world":
            aliases[normalise(entity)] = key
            aliases[code.lower()] = key
            if code in alpha2_of:
                aliases[alpha2_of[code].lower()] = key
    aliases["xkx"] = country_key.get("OWID_KOS", "kosovo")
    us_series = owid["USA"]["series"]

    # ---- 3. US states (CodeCarbon; before the zones so that state names win) -----------------
    state_year = 2016
    state_key: dict[str, str] = {}
    for r in read_csv("codecarbon_usa_emissions.csv"):
        if r["postal_code"] == "usa":  # the national row: the country comes from Ember
            continue
        name = r["state"].title().replace(" Of ", " of ")
        key = snake(name)
        if key in {snake(e["entity"]) for e in owid.values()} and key != "united_states":
            key += "_us"
        g = float(r["lb_co2_per_mwh"]) * LB_PER_MWH_TO_G_PER_KWH
        median = round(g, 2)
        drift = abs(math.log(us_series[max(us_series)] / us_series[state_year]))
        floor = SIGMA_FLOOR_LOW_CARBON if median < LOW_CARBON_BELOW else SIGMA_FLOOR
        sigma = round(max(floor, drift), 3)
        state_key[r["postal_code"]] = key
        add(key, {
            "kind": "us_state", "name": name, "median": median, "sigma": sigma, "year": state_year,
            "series": {state_year: median},
            "description": f"{name} (US state), {num(r['lb_co2_per_mwh'])} lb CO2/MWh = {num(median)} g/kWh (CO2, "
                           f"generation-based) in CodeCarbon's table filed under {state_year}. One year only: sigma "
                           f"{sigma} = max(floor {floor}, |ln| of the US national Ember change {state_year}-{max(us_series)} "
                           f"({round(drift, 3)})), for how stale the value may be.",
            "source": f"{CODECARBON_US}; {name}; year {state_year} per the file's folder (the file names no original dataset)",
        })
        fallback[key] = "united_states"
        aliases[normalise(name)] = key
        aliases[f"us-{r['postal_code'].lower()}"] = key
        if r["postal_code"].lower() not in iso_alpha2:
            aliases[r["postal_code"].lower()] = key
    aliases["georgia_(us_state)"] = state_key.get("GA", "georgia_us")

    # ---- 2. sub-national zones (Electricity Maps) ---------------------------------------------
    zones: dict[str, dict] = {}
    for r in read_csv("electricitymaps_yearly.csv"):
        z = zones.setdefault(r["zone"], {"name": r["zone_name"], "country": r["country_name"], "series": {}})
        z["series"][int(r["year"])] = float(r["gco2e_per_kwh"])
    taken = set(places) | set(series_only) | existing
    zone_key: dict[str, str] = {}
    name_to_a3 = {normalise(r["name"]): a3 for a3, r in iso.items()}
    for code in sorted(zones):
        z = zones[code]
        series = {y: v for y, v in z["series"].items() if v > 0}
        if not series:
            continue
        key = snake(z["name"])
        if key in {"ontario", "quebec"}:  # hand-written in grid.toml (Google operational): keep their year tables
            pass
        elif key in taken or key in country_key.values():
            key = snake(code)
        taken.add(key)
        latest = max(series)
        median = series[latest]
        sigma, sd, years = sigma_from(series, median)
        a2 = code.split("-")[0]
        a3 = next((k for k, v in alpha2_of.items() if v == a2), None)
        parent = country_key.get(a3, "world")
        zone_key[code] = key
        add(key, {
            "kind": "zone", "name": z["name"], "median": median, "sigma": sigma, "year": latest, "series": series,
            "description": f"{z['name']} ({code}, {z['country']}), Electricity Maps {latest}: {num(median)} gCO2eq/kWh "
                           f"(lifecycle, consumption-based). sigma {sigma} = sd of ln over {years[0]}-{years[-1]} "
                           f"({'n/a' if sd is None else round(sd, 3)}), floor {SIGMA_FLOOR_LOW_CARBON if median < LOW_CARBON_BELOW else SIGMA_FLOOR}.",
            "source": f"{EMAPS}; zone {code} {latest} (series {min(series)}-{latest})",
        })
        fallback[key] = parent
        aliases[code.lower()] = key
        aliases.setdefault(normalise(z["name"]), key)

    # ---- 4. cloud regions --------------------------------------------------------------------
    google: dict[str, dict[int, float]] = {}
    google_loc: dict[str, str] = {}
    for r in read_csv("gcp_region_carbon.csv"):
        if int(r["year"]) >= 2021 and r["grid_gco2e_per_kwh"]:  # 2019-2020 were lifecycle, 2021+ operational
            google.setdefault(r["region"], {})[int(r["year"])] = float(r["grid_gco2e_per_kwh"])
            google_loc[r["region"]] = r["location"]
    all_grid = {**places, **series_only}
    region_ids: dict[str, list[str]] = {}
    for r in read_csv("cloud_regions.csv"):
        provider, region = r["provider"], r["region"]
        target = None
        zone = r["grid_zone"]
        if zone.startswith("US-") and zone[3:] in state_key and zone not in zones:
            target = state_key[zone[3:]]
        elif zone in zone_key:
            target = zone_key[zone]
        elif zone and len(zone) == 2:
            a3 = next((k for k, v in alpha2_of.items() if v == zone), None)
            target = country_key.get(a3)
        if target is None:
            a3 = r["country_iso3"] or next((k for k, v in alpha2_of.items() if v == zone.split("-")[0]), "")
            target = country_key.get(a3)
        if target is None or (target not in all_grid and target not in existing):
            skipped.append(f"{provider}:{region} (no grid for {r['country_iso3'] or zone})")
            continue
        key = f"{provider}:{region}"
        grid = all_grid.get(target)
        if grid is None:  # a grid.toml key without a series here (e.g. world): cannot copy; skip
            skipped.append(f"{key} (maps to {target}, hand-written)")
            continue
        rec = {
            "kind": "cloud", "name": f"{PROVIDERS[provider]} {region}", "median": grid["median"], "sigma": grid["sigma"],
            "year": grid["year"], "series": grid["series"], "maps_to": target,
            "maps_to_source": r["mapping_source"] + (f" (zone {zone})" if zone else ""),
            "location": ", ".join(x for x in (r["city"] or google_loc.get(region, ""), r["country_iso3"]) if x),
            "description": f"{PROVIDERS[provider]} region {region}: draws from the {target} grid "
                           f"({grid['name']}); prior copied from that grid ({num(grid['median'])} g/kWh, {grid['year']}, "
                           f"sigma {grid['sigma']}).",
            "source": f"grid: {grid['source']}; mapping: {r['mapping_source']}",
        }
        if provider == "gcp" and region in google:
            gs = google[region]
            rec["provider_gco2_per_kwh"] = gs[max(gs)]
            rec["provider_year"] = max(gs)
            rec["provider_by_year"] = gs
            rec["provider_source"] = f"{GOOGLE}; {region} {min(gs)}-{max(gs)}"
        add(key, rec)
        fallback[key] = target
        region_ids.setdefault(region.lower(), []).append(key)
    for region, keys in region_ids.items():
        if len(keys) == 1:
            aliases[region] = keys[0]
            aliases[f"{keys[0].split(':')[0]}/{region}"] = keys[0]
        for k in keys:
            aliases[f"{k.split(':')[0]}/{region}"] = k

    # ---- aliases: spellings and cities -------------------------------------------------------
    valid = set(places) | set(series_only) | existing
    for key, names in EXTRA_ALIASES.items():
        for n in names:
            if key in valid:
                aliases[normalise(n)] = key
    for city, key in CITY_ALIASES.items():
        if key in valid:
            aliases.setdefault(city, key)
    aliases = {a: k for a, k in aliases.items() if a and a != k and a not in valid}
    fallback = {k: v for k, v in fallback.items() if v and k != v}

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grid_places.toml").write_text(render_grid(places), encoding="utf-8")
    (out_dir / "place_aliases.toml").write_text(render_aliases(aliases, fallback, series_only), encoding="utf-8")
    counts = {}
    for rec in places.values():
        kind = rec["kind"] if rec["kind"] != "cloud" else "cloud:" + rec["name"].split(" ")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return {"counts": counts, "aliases": len(aliases), "skipped": sorted(skipped), "series_only": sorted(series_only)}


HEADER = """# GENERATED by priors/build/build_places.py from priors/sources/ (see priors/sources/SOURCES.md).
# Do not edit by hand: change the source tables or the script, and run it again.
#
# Location-based grid carbon intensity (g/kWh) for every country, US state, sub-national grid and
# cloud region the source tables cover, as extra variants of grid_gco2_per_kwh (priors/grid.toml
# defines the quantity; keys it already has are not redefined here). All log-normal:
#   median = the latest year's value; sigma = sd of ln over the last five years of data, floored
#   at 0.05 (0.2 where the median is under 100 g/kWh); one-year sources: see each description.
#   by_year = the source's value for each year (g/kWh), for picking the year a run took place.
# Countries: Ember via OWID (lifecycle, CC BY 4.0). Sub-national zones: Electricity Maps (lifecycle,
# ODbL 1.0: this file, as a derived database, stays under ODbL for those entries). US states:
# CodeCarbon's table (CO2 only, 2016). Cloud regions "<provider>:<region id>" copy the prior of the
# grid named by maps_to; provider_* fields carry the provider's own published figure where there
# is one (Google's operational "grid carbon intensity", which is lower than lifecycle values).
"""


def render_grid(places: dict[str, dict]) -> str:
    lines = [HEADER, "[grid_gco2_per_kwh]", 'units = "g/kWh"', 'long_name = "grid carbon intensity, location-based annual average (gCO2e/kWh)"',
             'selected_by = "region"', "support = { low = 0.0 }", ""]
    order = {"country": 0, "zone": 1, "us_state": 2, "cloud": 3}
    for key in sorted(places, key=lambda k: (order[places[k]["kind"]], k)):
        rec = places[key]
        lines.append(f"[grid_gco2_per_kwh.variants.{toml_key(key)}]")
        lines.append('distribution = "lognormal"')
        lines.append(f"params = {{ median = {num(rec['median'])}, sigma = {rec['sigma']} }}")
        lines.append(f"description = {toml_str(rec['description'])}")
        lines.append(f"source = {toml_str(rec['source'])}")
        lines.append(f"year = {rec['year']}")
        lines.append(f"by_year = {by_year_table(rec['series'])}")
        if rec["kind"] == "cloud":
            lines.append(f"maps_to = {toml_str(rec['maps_to'])}")
            lines.append(f"maps_to_source = {toml_str(rec['maps_to_source'])}")
            if rec["location"]:
                lines.append(f"location = {toml_str(rec['location'])}")
            if "provider_gco2_per_kwh" in rec:
                lines.append(f"provider_gco2_per_kwh = {num(rec['provider_gco2_per_kwh'])}")
                lines.append(f"provider_year = {rec['provider_year']}")
                lines.append(f"provider_by_year = {by_year_table(rec['provider_by_year'])}")
                lines.append(f"provider_source = {toml_str(rec['provider_source'])}")
        lines.append("")
    return "\n".join(lines)


def render_aliases(aliases: dict, fallback: dict, series_only: dict) -> str:
    lines = ["# GENERATED by priors/build/build_places.py from priors/sources/ (see priors/sources/SOURCES.md).",
             "# Names of places for carbon_mc.priors.places; not a prior file (it holds no quantity).",
             "# [aliases]: normalised name (accents dropped, lower case, spaces -> '_') -> grid_gco2_per_kwh variant key.",
             "# [falls_back_to]: key -> the wider grid it falls back to (state/zone -> country, cloud region -> its grid).",
             "# [series.<key>]: year tables of places whose variant is hand-written in priors/grid.toml.",
             "", "[aliases]"]
    lines += [f"{toml_str(a)} = {toml_str(aliases[a])}" for a in sorted(aliases)]
    lines += ["", "[falls_back_to]"]
    lines += [f"{toml_str(k)} = {toml_str(fallback[k])}" for k in sorted(fallback)]
    for key in sorted(series_only):
        rec = series_only[key]
        lines += ["", f"[series.{toml_key(key)}]", f"year = {rec['year']}", f"by_year = {by_year_table(rec['series'])}",
                  f"source = {toml_str(rec['source'])}"]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else PRIORS
    report = build(out)
    print(f"wrote {out / 'grid_places.toml'} and {out / 'place_aliases.toml'}")
    print("variants:", report["counts"], "aliases:", report["aliases"])
    print("grid.toml keys not redefined:", ", ".join(report["series_only"]))
    print("skipped:", "; ".join(s for s in report["skipped"] if s not in report["series_only"]) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
