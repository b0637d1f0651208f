"""Enrichment end to end: `leadpipe batch` over the sample leads with the
providers down, with a warm cache, and against loopback providers.

What a user relies on: a provider outage degrades leads without stopping the
run or losing any (exactly one outcome per row); a warm cache answers with
no network; misses are batched (few requests for many leads); and every
outcome says where each enriched field came from.
"""
import csv
import json
import os
import re
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SRC = os.environ.get("LP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LP_BINARY", os.path.join(SRC, "build", "leadpipe"))
PIPELINE = os.path.join(SRC, "pipelines", "enrich.yaml")
SAMPLE = os.path.join(SRC, "data", "sample", "leads.csv")
NOW = "2026-03-02T10:00:00Z"


def run(*args, check=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}:\n{p.stderr}")
    return p


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def sample_rows():
    with open(SAMPLE, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Providers:
    """An Apollo-style bulk match and a JSON-per-domain company API on loopback."""

    def __init__(self):
        self.people_requests = 0
        self.company_requests = 0
        self.max_bulk = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                details = json.loads(self.rfile.read(n))["details"]
                owner.people_requests += 1
                owner.max_bulk = max(owner.max_bulk, len(details))
                self.reply(200, {"matches": [
                    {"email": d["email"], "title": "Head of Data", "seniority": "head",
                     "linkedin_url": "https://www.linkedin.com/in/found",
                     "departments": ["data"]} if len(d["email"]) % 2 else None
                    for d in details]})

            def do_GET(self):
                owner.company_requests += 1
                domain = self.path.rsplit("/", 1)[-1]
                self.reply(200, {"domain": domain, "name": "X", "industry": "Software",
                                 "employees": 120, "country": "US"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class EnrichBatchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "enrich.mdb")
        self.out = os.path.join(self.tmp.name, "out")

    def tearDown(self):
        self.tmp.cleanup()

    def pipeline(self, people_url, company_url, deadline="2s"):
        with open(PIPELINE, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("cache: data/enrich.mdb", f"cache: {self.db}")
        text = text.replace("http://127.0.0.1:8091", people_url)
        text = text.replace("http://127.0.0.1:8092", company_url)
        text = re.sub(r"deadline: \S+", f"deadline: {deadline}", text)
        text = re.sub(r"per_(minute|day): \d+", r"per_\1: 1000000", text)  # not this test's subject
        path = os.path.join(self.tmp.name, "enrich.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        for name in os.listdir(os.path.dirname(PIPELINE)):  # set files beside the pipeline
            if not name.endswith(".yaml"):
                os.symlink(os.path.join(os.path.dirname(PIPELINE), name),
                           os.path.join(self.tmp.name, name))
        return path

    def batch(self, pipeline):
        run("batch", "-c", pipeline, "--in", SAMPLE, "--out", self.out, "--now", NOW)
        routed = read_jsonl(os.path.join(self.out, "routed.jsonl"))
        rejected = read_jsonl(os.path.join(self.out, "rejected.jsonl"))
        self.assertEqual(len(routed) + len(rejected), len(sample_rows()))
        ids = [r["lead_id"] for r in routed] + [r["lead_id"] for r in rejected]
        self.assertEqual(len(ids), len(set(ids)), "a lead has two outcomes")
        return routed

    def test_enrich_pipeline_compiles(self):
        self.assertIn("ok (pipeline 'enrich'", run("check", "-c", PIPELINE).stdout)

    def test_provider_outage_degrades_every_lead_and_loses_none(self):
        down = "http://127.0.0.1:1"
        routed = self.batch(self.pipeline(down, down))
        for r in routed:
            want = "skipped" if r["disposition"] == "duplicate" else "degraded"
            self.assertEqual(r["enrichment"], want, r["lead_id"])
            self.assertEqual(r["provenance"], {})

    def test_warm_cache_answers_without_network(self):
        firmo = os.path.join(self.tmp.name, "firmo.csv")
        with open(firmo, "w", encoding="utf-8") as f:
            f.write("email,domain,industry,region,city\n")
            for row in sample_rows():
                domain = row["Email"].rpartition("@")[2]
                if domain:
                    f.write(f"{row['Email']},{domain},Cached Industry,Cached Region,"
                            "Cached City\n")
        run("cache", "load", "--db", self.db, firmo)
        down = "http://127.0.0.1:1"
        routed = self.batch(self.pipeline(down, down))
        cached = [r for r in routed if r["enrichment"] == "cached"]
        self.assertGreater(len(cached), len(routed) // 2)
        for r in cached:
            for field, src in r["provenance"].items():
                self.assertEqual(src, "cache")
                if field == "company_domain":  # from the person row: its email's domain
                    self.assertEqual(r["lead"][field], r["lead"]["email"].rpartition("@")[2])
                else:
                    self.assertTrue(r["lead"][field].startswith("Cached"), field)
            if r["lead"].get("industry") != "Cached Industry":
                self.assertNotIn("industry", r["provenance"])  # the input won
        self.assertIn("hits", run("cache", "stats", "--db", self.db).stdout)

    def test_cold_cache_batches_misses_to_the_providers(self):
        p = Providers()
        try:
            url = f"http://127.0.0.1:{p.port}"
            routed = self.batch(self.pipeline(url, url, deadline="30s"))
        finally:
            p.close()
        used = [r for r in routed if r["enrichment"] == "used"]
        self.assertGreater(len(used), len(routed) // 2)
        self.assertLessEqual(p.max_bulk, 10)
        leads = len(used)
        print(f"\nbatching: {leads} leads enriched with {p.people_requests} people requests "
              f"(bulk {p.max_bulk}) and {p.company_requests} company requests")
        self.assertLess(p.people_requests, leads / 5)
        found = [r for r in used if r["provenance"].get("linkedin_url") == "provider:apollo"]
        self.assertTrue(found)
        for r in found:
            self.assertEqual(r["lead"]["linkedin_url"], "https://www.linkedin.com/in/found")
        for r in used:  # the sample leads all have titles: the input wins
            self.assertNotIn("title", r["provenance"])
        # the second run is answered by the cache the first one filled
        before = p.people_requests
        self.batch(self.pipeline("http://127.0.0.1:1", "http://127.0.0.1:1"))
        routed = read_jsonl(os.path.join(self.out, "routed.jsonl"))
        self.assertFalse([r for r in routed if r["enrichment"] == "degraded"])
        self.assertEqual(p.people_requests, before)


if __name__ == "__main__":
    unittest.main()
