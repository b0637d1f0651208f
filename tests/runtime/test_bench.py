"""Smoke test of `leadpipe bench`: the stages, scaling and e2e benches run on small
inputs, print their tables, and write JSON in the documented schema
(bench/README.md) with positive numbers. Nothing here is timed: the figures
depend on the machine, only their presence and sign are checked.
"""
import json
import os
import subprocess
import tempfile
import unittest

SRC = os.environ.get("LP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LP_BINARY", os.path.join(SRC, "build", "leadpipe"))

# The default pipeline configures neither enrich nor llm, so the bench leaves them out.
STAGES = ["generic", "codec", "validate", "dedupe", "score", "qualify", "route", "nurture"]


def bench(*args, timeout=120, cwd=None):
    p = subprocess.run([BIN, "bench", *args, "--quiet"], capture_output=True, text=True,
                       timeout=timeout, cwd=cwd)
    if p.returncode != 0:
        raise AssertionError(f"bench {args} exited {p.returncode}:\n{p.stderr}")
    return p


class BenchStagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        path = os.path.join(cls.tmp.name, "out.json")
        cls.proc = bench("stages", "--leads", "20000", "--runs", "1", "--json", path)
        with open(path, encoding="utf-8") as f:
            cls.doc = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_top_level_schema(self):
        d = self.doc
        self.assertEqual(d["version"], 1)
        self.assertEqual(d["target_leads_per_day"], 20000)
        self.assertAlmostEqual(d["target_leads_per_s"], 20000 / 86400, places=6)
        for key in ("machine", "config", "stages", "chain", "e2e", "scaling", "memory"):
            self.assertIn(key, d)
        self.assertGreaterEqual(d["machine"]["cpus"], 1)
        self.assertEqual(d["machine"]["pipeline"], "default")
        self.assertEqual(d["config"]["leads"], 20000)
        self.assertEqual(d["e2e"], [])
        self.assertEqual(d["scaling"], [])

    def test_every_stage_has_positive_figures(self):
        rows = {r["name"]: r for r in self.doc["stages"]}
        self.assertEqual(sorted(rows), sorted(STAGES))
        self.assertEqual(rows["generic"]["kind"], "baseline")
        for name, r in rows.items():
            with self.subTest(stage=name):
                self.assertGreater(r["leads_per_s"], 0)
                self.assertGreater(r["ns_per_lead"], 0)
                self.assertGreater(r["cpu_ns_per_lead"], 0)
                self.assertGreater(r["headroom"], 1)
                self.assertEqual(len(r["runs"]), 1)
                self.assertGreater(r["leads"], 0)
        # every lead goes through the codec; later stages see fewer (rejects, duplicates)
        self.assertEqual(rows["codec"]["leads"], 20000)
        self.assertLess(rows["score"]["leads"], rows["validate"]["leads"])

    def test_chain_against_baseline(self):
        c = self.doc["chain"]
        self.assertEqual(c["name"], "chain")
        self.assertEqual(c["leads"], 20000)
        self.assertGreater(c["leads_per_s"], 0)
        self.assertGreater(c["baseline_leads_per_s"], 0)
        self.assertAlmostEqual(c["ratio_vs_baseline"],
                               c["leads_per_s"] / c["baseline_leads_per_s"], places=6)
        self.assertAlmostEqual(c["headroom"], c["leads_per_s"] / (20000 / 86400), delta=1)
        lat = c["latency_us"]
        self.assertGreater(lat["samples"], 0)
        self.assertLessEqual(lat["p50"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["p999"])

    def test_memory_and_table(self):
        m = self.doc["memory"]
        self.assertGreater(m["peak_rss_mib"], 0)
        self.assertGreater(m["rss_mib"], 0)
        out = self.proc.stdout
        self.assertIn("target 20000 leads/day", out)
        for name in STAGES + ["chain"]:
            self.assertIn(name, out)


class BenchEnrichTest(unittest.TestCase):
    def test_an_enrich_pipeline_times_the_stage_and_says_how_warm_the_cache_was(self):
        """A cold cache: every lookup misses, and the report says so rather than
        passing off the rejected leads' short path as the chain's speed."""
        pipeline = os.path.abspath(os.path.join(SRC, "pipelines", "enrich.yaml"))
        with tempfile.TemporaryDirectory() as tmp:  # its cache, data/enrich.mdb, lands here
            path = os.path.join(tmp, "out.json")
            p = bench("stages", "-c", pipeline, "--leads", "2000", "--runs", "1", "--json", path,
                      cwd=tmp)
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        self.assertIn("enrich", {r["name"] for r in d["stages"]})
        self.assertNotIn("llm", {r["name"] for r in d["stages"]})
        self.assertEqual(d["chain"]["enrich_cached"], 0)
        self.assertGreater(d["chain"]["enrich_missed"], 1800)  # less the invalid and duplicate leads
        self.assertIn("chain enrichment: 0.0% of looked-up leads answered from the cache", p.stdout)
        self.assertIn("warm the cache", p.stdout)


class BenchE2eTest(unittest.TestCase):
    def test_e2e_against_passthrough(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "e2e.json")
            p = bench("e2e", "--leads", "5000", "--threads", "1", "--runs", "1", "--json", path)
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        self.assertEqual(d["stages"], [])
        self.assertIsNone(d["chain"])
        self.assertEqual(len(d["e2e"]), 1)
        e = d["e2e"][0]
        self.assertEqual(e["threads"], 1)
        self.assertEqual(e["leads"], 5000)
        for key in ("leads_per_s", "passthrough_leads_per_s", "ratio_vs_passthrough",
                    "cpu_ns_per_lead", "headroom"):
            with self.subTest(field=key):
                self.assertGreater(e[key], 0)
        for key in ("latency_us", "passthrough_latency_us"):
            lat = e[key]
            self.assertGreater(lat["samples"], 0)
            self.assertGreater(lat["p50"], 0)
            self.assertLessEqual(lat["p50"], lat["p99"])
        self.assertGreater(d["memory"]["e2e_peak_rss_mib"], 0)
        self.assertIn("passthrough", p.stdout)

    def test_scaling_on_two_threads(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "scaling.json")
            bench("scaling", "--leads", "6000", "--threads", "1,2", "--runs", "1", "--batch",
                  "1000", "--json", path)
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        self.assertEqual([s["threads"] for s in d["scaling"]], [1, 2])
        for s in d["scaling"]:
            with self.subTest(threads=s["threads"]):
                self.assertGreater(s["leads_per_s"], 0)
                self.assertGreater(s["efficiency"], 0)
        self.assertAlmostEqual(d["scaling"][0]["speedup"], 1.0)

    def test_usage_errors_exit_2(self):
        p = subprocess.run([BIN, "bench", "nonsense"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("stages, e2e, scaling, soak or all", p.stderr)
        p = subprocess.run([BIN, "bench", "stages", "--runs", "0"], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
