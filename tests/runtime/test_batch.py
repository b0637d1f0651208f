"""Whole-pipeline tests of `leadpipe check` and `leadpipe batch` on files.

They prove what a user relies on: every input row yields exactly one outcome
(routed or rejected), replays are byte-identical, messy exports are handled
row by row with reasons and line numbers, Avro outputs are readable by an
independent implementation, and configuration errors point at file:line:col.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("LP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LP_BINARY", os.path.join(SRC, "build", "leadpipe"))
PIPELINE = os.path.join(SRC, "pipelines", "default.yaml")
SAMPLE = os.path.join(SRC, "data", "sample", "leads.csv")
MESSY = os.path.join(SRC, "tests", "data", "messy_export.csv")
NOW = "2026-03-02T10:00:00Z"


def run(*args, check=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}:\n{p.stderr}")
    return p


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def count_csv_records(path):
    import csv
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.reader(f))
    return sum(1 for r in rows[1:] if any(c.strip() for c in r))


class CheckTest(unittest.TestCase):
    def test_default_pipeline_compiles(self):
        p = run("check", "-c", PIPELINE)
        self.assertIn("ok (pipeline 'default'", p.stdout)

    def test_every_error_is_reported_with_position(self):
        broken = os.path.join(SRC, "tests", "data", "broken.yaml")
        p = run("check", "-c", broken, check=False)
        self.assertEqual(p.returncode, 2)
        err = p.stderr
        expected = [
            f"{broken}:3:3: unknown key 'colour'",
            f"{broken}:9:14: unknown field 'titel'",
            f"{broken}:12:22: regex: missing closing parenthesis",
            f"{broken}:15:25: unknown set $apac",
            "missing required key 'points'",
            f"{broken}:20:14: 'lots' is not an integer",
            "name exactly one of owner, team or queue",
            f"{broken}:31:7: 'steps' is a non-empty list",
        ]
        for e in expected:
            self.assertIn(e, err)
        self.assertIn("8 errors", err)

    def test_help_and_usage_errors(self):
        self.assertEqual(run("batch", "--help").returncode, 0)
        self.assertEqual(run("batch", check=False).returncode, 2)
        self.assertEqual(run("nosuchcommand", check=False).returncode, 2)


class BatchTest(unittest.TestCase):
    def batch(self, inputs, fmt="jsonl", extra=()):
        out = tempfile.mkdtemp(prefix="lp-batch-")
        args = ["batch", "-c", PIPELINE, "--out", out, "--now", NOW, "--format", fmt, *extra]
        for i in inputs:
            args += ["--in", i]
        p = run(*args)
        return out, p

    def test_sample_conservation(self):
        out, p = self.batch([SAMPLE])
        routed = read_jsonl(os.path.join(out, "routed.jsonl"))
        rejected = read_jsonl(os.path.join(out, "rejected.jsonl"))
        rows = count_csv_records(SAMPLE)
        self.assertEqual(len(routed) + len(rejected), rows)
        ids = [r["lead_id"] for r in routed]
        self.assertEqual(len(ids), len(set(ids)), "a lead appears twice in routed output")
        dispositions = {r["disposition"] for r in routed}
        self.assertTrue({"sales", "nurture"} <= dispositions, dispositions)
        for r in routed:
            self.assertTrue(0 <= r["score"]["total"] <= 100)
            self.assertEqual(r["pipeline"]["name"], "default")
            if r["disposition"] == "duplicate":
                self.assertTrue(r["duplicate_of"])
            else:
                self.assertIsNotNone(r["owner"])
        tasks = read_jsonl(os.path.join(out, "nurture.jsonl"))
        self.assertTrue(tasks)
        keys = [t["idempotency_key"] for t in tasks]
        self.assertEqual(len(keys), len(set(keys)))
        self.assertIn("total", p.stderr)

    def test_replay_is_byte_identical(self):
        for fmt in ("jsonl", "avro"):
            a, _ = self.batch([SAMPLE, MESSY], fmt)
            b, _ = self.batch([SAMPLE, MESSY], fmt)
            for name in ("routed", "nurture", "rejected"):
                with open(os.path.join(a, f"{name}.{fmt}"), "rb") as fa, \
                     open(os.path.join(b, f"{name}.{fmt}"), "rb") as fb:
                    self.assertEqual(fa.read(), fb.read(), f"{name}.{fmt} differs")

    def test_messy_export_rejects_rows_with_reasons(self):
        out, _ = self.batch([MESSY])
        routed = read_jsonl(os.path.join(out, "routed.jsonl"))
        rejected = read_jsonl(os.path.join(out, "rejected.jsonl"))
        with open(os.path.join(SRC, "tests", "data", "messy_export.expect.json")) as f:
            expect = json.load(f)
        self.assertEqual(len(routed) + len(rejected), expect["rows"])
        got = {r["origin"]["line"]: r["error_code"] for r in rejected}
        self.assertEqual(got, {int(k): v for k, v in expect["rejected"].items()})
        for r in rejected:
            self.assertTrue(r["error_message"])
            self.assertTrue(r.get("original") or r.get("original_base64"))
        names = {(r["lead"].get("first_name"), r["lead"].get("last_name")) for r in routed}
        for first, last in expect["names"]:
            self.assertIn((first, last), names)
        dups = [r for r in routed if r["disposition"] == "duplicate"]
        self.assertEqual(len(dups), expect["duplicates"])

    def test_avro_outputs_read_by_python_avro(self):
        import avro.datafile
        import avro.io
        import avro.schema
        out, _ = self.batch([SAMPLE], "avro")
        jout, _ = self.batch([SAMPLE], "jsonl")
        for name, schema in (("routed", "routed_lead"), ("nurture", "nurture_task"),
                             ("rejected", "rejected")):
            with open(os.path.join(SRC, "schemas", f"{schema}.avsc")) as f:
                reader_schema = avro.schema.parse(f.read())
            with open(os.path.join(out, f"{name}.avro"), "rb") as f:
                records = list(avro.datafile.DataFileReader(
                    f, avro.io.DatumReader(readers_schema=reader_schema)))
            expected = read_jsonl(os.path.join(jout, f"{name}.jsonl"))
            self.assertEqual(len(records), len(expected), name)
            if name == "routed":
                for a, j in zip(records, expected):
                    self.assertEqual(a["lead"]["lead_id"], j["lead_id"])
                    self.assertEqual(a["score"]["total"], j["score"]["total"])
                    self.assertEqual(a["disposition"], j["disposition"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
