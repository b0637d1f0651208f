#!/usr/bin/env python3
"""Checks leadpipe's Avro container files with an independent implementation.

Usage: avro_check.py DIR

tests/unit/test_sink.c writes DIR/{lead,routed,nurture,rejected}.avro through
lp_sink, and the same records as DIR/*.jsonl. This script reads every .avro
file with python3-avro's DataFileReader (not avro-c), using the schemas/*.avsc
files as reader schemas, and checks that:
  - each Avro record equals its JSONL twin (so the Avro and JSON encoders
    agree field by field), and
  - known values of the fixture in tests/unit/lead_fixture.h came through
    unchanged (unicode, lists, maps, nulls, enums, timestamps, raw bytes).

avro-c writes the container header schema without logicalType attributes,
so python3-avro hands timestamp-millis fields over as plain longs even with
our reader schema. apply_logical() converts them the way a consumer that
holds schemas/*.avsc would (walking the reader schema); the values must
still be exact.
Exits 0 when everything matches, 1 with one line per difference otherwise.
"""
import base64
import datetime
import json
import os
import sys

try:
    import avro.datafile
    import avro.io
    import avro.schema
except ImportError:
    # A Python from pyenv or a venv does not see Debian's python3-avro.
    sys.path.append("/usr/lib/python3/dist-packages")
    import avro.datafile
    import avro.io
    import avro.schema

SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas")
UTC = datetime.timezone.utc
PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


def apply_logical(schema, datum):
    """Turns longs into datetimes where the reader schema says timestamp-millis."""
    if datum is None:
        return None
    if isinstance(schema, avro.schema.RecordSchema):
        return {f.name: apply_logical(f.type, datum[f.name]) for f in schema.fields}
    if isinstance(schema, avro.schema.UnionSchema):
        branch = [b for b in schema.schemas if b.type != "null"]
        return apply_logical(branch[0], datum) if len(branch) == 1 else datum
    if isinstance(schema, avro.schema.ArraySchema):
        return [apply_logical(schema.items, x) for x in datum]
    if isinstance(schema, avro.schema.MapSchema):
        return {k: apply_logical(schema.values, v) for k, v in datum.items()}
    if schema.get_prop("logicalType") == "timestamp-millis" and isinstance(datum, int):
        return EPOCH + datetime.timedelta(milliseconds=datum)
    return datum


def read_avro(path, schema_file):
    with open(os.path.join(SCHEMAS, schema_file), encoding="utf-8") as f:
        schema = avro.schema.parse(f.read())
    with open(path, "rb") as f:
        reader = avro.datafile.DataFileReader(f, avro.io.DatumReader(readers_schema=schema))
        codec = reader.get_meta("avro.codec")
        records = [apply_logical(schema, r) for r in reader]
        reader.close()
    return records, codec.decode() if codec else "null"


def read_jsonl(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f.read().decode("utf-8").splitlines()]


def iso(v):
    """leadpipe's JSON form of a timestamp: ISO-8601 UTC with milliseconds."""
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (v.microsecond // 1000)
    if isinstance(v, dict):
        return {k: iso(x) for k, x in v.items()}
    if isinstance(v, list):
        return [iso(x) for x in v]
    return v


def lead_as_json(lead):
    out = {k: iso(v) for k, v in lead.items() if v is not None and k != "custom"}
    if lead["custom"]:
        out["custom"] = lead["custom"]
    return out


def routed_as_json(r):
    out = {"lead_id": r["lead"]["lead_id"], "lead": lead_as_json(r["lead"])}
    out.update({k: iso(v) for k, v in r.items() if k != "lead"})
    return out


def rejected_as_json(r):
    o = r["origin"]
    if o["partition"] is None:
        origin = {"file": o["source"], "line": o["line"]}
    else:
        origin = {"topic": o["source"], "partition": o["partition"], "offset": o["offset"]}
    out = {k: iso(v) for k, v in r.items() if k not in ("original", "origin")}
    out["origin"] = origin
    try:
        out["original"] = r["original"].decode("utf-8")
    except UnicodeDecodeError:
        out["original_base64"] = base64.b64encode(r["original"]).decode()
    return out


def compare(name, avro_records, json_records, as_json):
    if len(avro_records) != len(json_records):
        problem("%s: %d Avro records, %d JSON lines" % (name, len(avro_records), len(json_records)))
    for i, (a, j) in enumerate(zip(avro_records, json_records)):
        got = as_json(a)
        if got != j:
            for k in sorted(set(got) | set(j)):
                if got.get(k) != j.get(k):
                    problem("%s[%d].%s: Avro %r, JSON %r" % (name, i, k, got.get(k), j.get(k)))


def expect(name, got, want):
    if got != want:
        problem("%s: got %r, want %r" % (name, got, want))


def check_leads(leads):
    lead = leads[0]
    expect("lead.lead_id", lead["lead_id"], "L-0001")
    expect("lead.first_name", lead["first_name"], "Zo\u00eb")
    expect("lead.last_name", lead["last_name"], "M\u00fcller-\u0141ukasz")
    expect("lead.title", lead["title"], 'VP "Growth" \\ Ops\n')
    expect("lead.department", lead["department"], "")
    expect("lead.company_name", lead["company_name"], "\u65e5\u672c\u96fb\u6c17 GmbH")
    expect("lead.technologies", lead["technologies"], ["Salesforce", "HubSpot", "", "Snowflake \u2744"])
    expect("lead.employee_count", lead["employee_count"], 1200)
    expect("lead.annual_revenue", lead["annual_revenue"], 4500000.25)
    expect("lead.email_clicks", lead["email_clicks"], -3)
    expect("lead.received_at", lead["received_at"], datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    expect("lead.campaign", lead["campaign"], "Q1 \U0001F600 launch")
    expect("lead.consent_marketing", lead["consent_marketing"], True)
    expect("lead.opted_out", lead["opted_out"], False)
    expect("lead.city", lead["city"], None)
    expect("lead.form_fills", lead["form_fills"], None)
    expect("lead.custom", lead["custom"], {"Apollo Contact Id": "abc123", "Lists": "A, B"})
    bare = leads[1]
    expect("lead[1].lead_id", bare["lead_id"], "L-min")
    expect("lead[1] other fields", [k for k, v in bare.items() if v not in (None, {})], ["lead_id"])


def check_routed(routed):
    r = routed[0]
    expect("routed.lead.email", r["lead"]["email"], "zoe.mueller@example.com")
    expect("routed.email_domain", r["email_domain"], "example.com")
    expect("routed.score", r["score"], {"fit": 55, "engagement": 30, "total": 85, "grade": "A"})
    expect("routed.reasons", r["reasons"], [
        {"rule": "vp_title", "group": "title", "dimension": "fit", "points": 20},
        {"rule": "recent_visit", "group": None, "dimension": "engagement", "points": 12}])
    expect("routed.qualification", r["qualification"], "SQL")
    expect("routed.gray_zone", r["gray_zone"], False)
    expect("routed.disposition", r["disposition"], "sales")
    expect("routed.owner", r["owner"], {"kind": "team", "name": "emea-enterprise"})
    expect("routed.route_rule", r["route_rule"], "emea_big")
    expect("routed.enrichment", r["enrichment"], "cached")
    expect("routed.provenance", r["provenance"], {"title": "provider:apollo", "industry": "cache"})
    expect("routed.llm", r["llm"], "skipped")
    expect("routed.llm_note", r["llm_note"], None)
    expect("routed.pipeline", r["pipeline"], {"name": "default", "version": "sha256:abc"})
    expect("routed.processed_at", r["processed_at"],
           datetime.datetime(2026, 1, 2, 3, 4, 6, 123000, tzinfo=UTC))
    d = routed[1]
    expect("routed[1].disposition", d["disposition"], "duplicate")
    expect("routed[1].duplicate_of", d["duplicate_of"], "L-1")
    expect("routed[1].owner", d["owner"], None)
    expect("routed[1].llm", d["llm"], "degraded")
    expect("routed[1].provenance", d["provenance"], {})
    expect("routed[1].qualification", d["qualification"], "none")


def check_tasks(tasks):
    t = tasks[0]
    expect("nurture.lead_id", t["lead_id"], "L-0001")
    expect("nurture.sequence_id", t["sequence_id"], "welcome")
    expect("nurture.step", t["step"], 2)
    expect("nurture.template_id", t["template_id"], "tpl-1")
    expect("nurture.send_at", t["send_at"], datetime.datetime(2026, 1, 3, 3, 4, 5, tzinfo=UTC))
    expect("nurture.owner", t["owner"], "emea-enterprise")
    expect("nurture.personalization", t["personalization"], {
        "first_name": "Zo\u00eb", "last_name": "M\u00fcller-\u0141ukasz",
        "company_name": "\u65e5\u672c\u96fb\u6c17 GmbH", "title": 'VP "Growth" \\ Ops\n'})
    expect("nurture.idempotency_key", t["idempotency_key"], "L-0001:welcome:2")
    expect("nurture.pipeline_version", t["pipeline_version"], "sha256:abc")


def check_rejected(rejected):
    f, k = rejected
    expect("rejected.original", f["original"], b"ab\xff,c")
    expect("rejected.origin", f["origin"],
           {"source": "/data/in.csv", "partition": None, "offset": None, "line": 17})
    expect("rejected.lead_id", f["lead_id"], "L-0002")
    expect("rejected.error_code", f["error_code"], "LP_E_EMAIL_INVALID")
    expect("rejected.error_message", f["error_message"], "field 'email': 'x@' is not a valid address")
    expect("rejected.stage", f["stage"], "validate")
    expect("rejected.rejected_at", f["rejected_at"],
           datetime.datetime(2026, 1, 2, 3, 4, 6, 123000, tzinfo=UTC))
    expect("rejected[1].original", k["original"], b"\x02A\x0e")
    expect("rejected[1].origin", k["origin"],
           {"source": "leads.raw", "partition": 3, "offset": 123456789012, "line": None})
    expect("rejected[1].lead_id", k["lead_id"], None)
    expect("rejected[1].stage", k["stage"], "decode")


FILES = [
    # name, schema, codec, JSON form, fixture checks
    ("lead", "lead.avsc", "deflate", lead_as_json, check_leads),
    ("routed", "routed_lead.avsc", "null", routed_as_json, check_routed),
    ("nurture", "nurture_task.avsc", "null", iso, check_tasks),
    ("rejected", "rejected.avsc", "null", rejected_as_json, check_rejected),
]


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    d = sys.argv[1]
    for name, schema, codec, as_json, check in FILES:
        try:
            records, got_codec = read_avro(os.path.join(d, name + ".avro"), schema)
        except Exception as e:  # any failure to read is the finding
            problem("%s.avro: python3-avro cannot read it: %s: %s" % (name, type(e).__name__, e))
            continue
        expect(name + ".avro codec", got_codec, codec)
        compare(name, records, read_jsonl(os.path.join(d, name + ".jsonl")), as_json)
        try:
            check(records)
        except (IndexError, KeyError, ValueError) as e:
            problem("%s: fixture records missing: %r" % (name, e))
    for p in PROBLEMS:
        print("avro_check: " + p)
    if not PROBLEMS:
        print("avro_check: %s: all files read by python3-avro %s and match" % (d, avro.__version__
              if hasattr(avro, "__version__") else ""))
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
