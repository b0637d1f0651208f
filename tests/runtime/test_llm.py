"""The LLM stage end to end: `leadpipe batch` over the sample leads with
pipelines/llm.yaml, against OpenAI-compatible providers on loopback.

What a user relies on: with every provider down the run completes with the
rules' decisions and exactly one outcome per row, each gray-zone lead saying
why the model was not used; with providers up, only gray-zone and nurture
leads are sent, in batches, nurture tasks carry a first line, and a second
run over the same leads answers from the cache with zero requests.

Run directly with --bench to print the figures of the report (leads per
request, tokens per lead, cost per 1,000 gray-zone leads, throughput with a
500 ms provider against rules only).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SRC = os.environ.get("LP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LP_BINARY", os.path.join(SRC, "build", "leadpipe"))
PIPELINE = os.path.join(SRC, "pipelines", "llm.yaml")
SAMPLE = os.path.join(SRC, "data", "sample", "leads.csv")
NOW = "2026-03-02T10:00:00Z"


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}:\n{p.stderr}")
    return p


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


class Provider:
    """One OpenAI-compatible chat completions endpoint that answers every lead."""

    def __init__(self, delay=0.0):
        self.requests = 0
        self.leads = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.sizes = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = json.loads(body)
                system = req["messages"][0]["content"]
                leads = json.loads(req["messages"][1]["content"])
                gray = '"decision"' in system
                answers = []
                for lead in leads:
                    if gray:
                        total = lead.get("score.total", 0)
                        answers.append({"lead_id": lead["lead_id"],
                                        "decision": "SQL" if total >= 62 else "nurture",
                                        "reason": "close call"})
                    else:
                        answers.append({"lead_id": lead["lead_id"],
                                        "first_line": "Saw what %s is building." %
                                        lead.get("company_name", "your team")})
                usage = {"prompt_tokens": len(body) // 4, "completion_tokens": 12 * len(leads)}
                with owner.lock:
                    owner.requests += 1
                    owner.leads += len(leads)
                    owner.sizes.append(len(leads))
                    owner.prompt_tokens += usage["prompt_tokens"]
                    owner.completion_tokens += usage["completion_tokens"]
                if delay:
                    time.sleep(delay)
                out = json.dumps({"choices": [{"message": {"role": "assistant",
                                                           "content": json.dumps(answers)}}],
                                  "usage": usage}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pipeline_for(tmp, ports, cache, deadline="10s"):
    """pipelines/llm.yaml pointed at loopback ports, a fresh cache and a short deadline."""
    with open(PIPELINE, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("127.0.0.1:8000", "127.0.0.1:%d" % ports[0])
    text = text.replace("127.0.0.1:8001", "127.0.0.1:%d" % ports[1])
    text = text.replace("cache: data/llm.mdb", "cache: " + cache)
    text = re.sub(r"deadline: 20s", "deadline: " + deadline, text)
    text = text.replace("backoff: 500ms", "backoff: 50ms")
    path = os.path.join(tmp, "llm.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


class LlmBatchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.cache = os.path.join(self.tmp.name, "llm.mdb")

    def tearDown(self):
        self.tmp.cleanup()

    def batch(self, pipeline, name):
        out = os.path.join(self.tmp.name, name)
        p = run("batch", "-c", pipeline, "--in", SAMPLE, "--out", out, "--now", NOW)
        routed = read_jsonl(os.path.join(out, "routed.jsonl"))
        rejected = read_jsonl(os.path.join(out, "rejected.jsonl"))
        tasks = read_jsonl(os.path.join(out, "nurture.jsonl"))
        self.assertEqual(len(routed) + len(rejected), 3000)  # one outcome per row
        return routed, tasks, p

    def test_pipeline_compiles(self):
        run("check", "-c", PIPELINE)

    def test_every_provider_down_keeps_rule_decisions_and_loses_nothing(self):
        pipeline = pipeline_for(self.tmp.name, [free_port(), free_port()], self.cache)
        routed, tasks, _ = self.batch(pipeline, "down")
        gray = [r for r in routed if r["gray_zone"] and r["disposition"] in ("sales", "nurture")]
        self.assertGreater(len(gray), 0)
        for r in gray:
            self.assertEqual(r["llm"], "degraded")
            self.assertEqual(r["llm_note"], "every provider is failing or cooling down")
        others = [r for r in routed if not r["gray_zone"] and r["disposition"] != "nurture"]
        self.assertTrue(all(r["llm"] == "skipped" and r["llm_note"] is None for r in others))
        self.assertFalse(any("first_line" in t["personalization"] for t in tasks))

    def test_providers_answer_in_batches_and_a_rerun_costs_nothing(self):
        a, b = Provider(), Provider()
        try:
            pipeline = pipeline_for(self.tmp.name, [a.port, b.port], self.cache)
            routed, tasks, _ = self.batch(pipeline, "first")
            asked = [r for r in routed if r["gray_zone"] or r["disposition"] == "nurture"]
            sent = a.leads + b.leads
            self.assertGreater(sent, 0)
            self.assertGreater(a.requests, b.requests)  # balanced 80/20
            self.assertLessEqual(max(a.sizes + b.sizes), 20)
            self.assertLess(a.requests + b.requests, sent / 2)  # batched, not one by one
            self.assertTrue(all(r["llm"] == "used" for r in asked if r["llm"] != "skipped"))
            nurture = [r["lead_id"] for r in routed if r["disposition"] == "nurture"]
            with_line = [t for t in tasks if "first_line" in t["personalization"]]
            self.assertGreater(len(with_line), 0)
            self.assertEqual({t["lead_id"] for t in with_line} - set(nurture), set())
            self.assertTrue(with_line[0]["personalization"]["first_line"].startswith("Saw what"))
            before = a.requests + b.requests
            routed2, _, _ = self.batch(pipeline, "second")
            self.assertEqual(a.requests + b.requests, before)  # zero requests: all cached
            by_id = {r["lead_id"]: r for r in routed}
            for r in routed2:
                if by_id[r["lead_id"]]["llm"] == "used":
                    self.assertEqual(r["llm"], "cached")
                    self.assertEqual(r["disposition"], by_id[r["lead_id"]]["disposition"])
        finally:
            a.close()
            b.close()


def bench():
    """Figures for the report; not a test."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rules")
        t0 = time.time()
        run("batch", "-c", os.path.join(SRC, "pipelines", "default.yaml"), "--in", SAMPLE,
            "--out", out, "--now", NOW)
        rules = time.time() - t0
        slow, other = Provider(delay=0.5), Provider(delay=0.5)
        pipeline = pipeline_for(tmp, [slow.port, other.port], os.path.join(tmp, "c.mdb"), "30s")
        t0 = time.time()
        run("batch", "-c", pipeline, "--in", SAMPLE, "--out", os.path.join(tmp, "llm"), "--now",
            NOW)
        llm = time.time() - t0
        routed = read_jsonl(os.path.join(tmp, "llm", "routed.jsonl"))
        gray = sum(1 for r in routed if r["gray_zone"])
        req = slow.requests + other.requests
        leads = slow.leads + other.leads
        pt = slow.prompt_tokens + other.prompt_tokens
        ct = slow.completion_tokens + other.completion_tokens
        # balanced 80/20 over local-vllm (0.05/0.10) and hosted (0.15/0.60) prices
        cost = (slow.prompt_tokens * 0.05 + slow.completion_tokens * 0.10 +
                other.prompt_tokens * 0.15 + other.completion_tokens * 0.60) / 1e6
        print("leads sent %d in %d requests (%.1f per request), gray zone %d" %
              (leads, req, leads / max(req, 1), gray))
        print("prompt tokens/lead %.1f, completion tokens/lead %.1f" %
              (pt / max(leads, 1), ct / max(leads, 1)))
        print("cost per 1,000 leads asked: $%.4f" % (cost * 1000 / max(leads, 1)))
        print("3000 rows: rules only %.2fs (%.0f/s); with 500 ms providers %.2fs (%.0f/s)" %
              (rules, 3000 / rules, llm, 3000 / llm))
        slow.close()
        other.close()


if __name__ == "__main__":
    if "--bench" in sys.argv:
        bench()
    else:
        unittest.main()
