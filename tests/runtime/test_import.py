"""`leadpipe broker` + `leadpipe import` + kcat, end to end.

What a user relies on: every good row of a CSV export arrives on the topic
exactly once, keyed by its lead id; every bad row is in the rejects file
with its reason and line; the values are Avro that an independent
implementation (python3-avro) reads with schemas/lead.avsc; the Confluent
format carries the id the registry gave; bad -X properties are usage errors.
"""
import http.server
import io
import json
import os
import select
import subprocess
import tempfile
import threading
import sys
import unittest

try:
    import avro.io
except ImportError:  # a python3 outside Debian's (pyenv) does not see python3-avro
    sys.path.append("/usr/lib/python3/dist-packages")
    import avro.io
import avro.schema

SRC = os.environ.get("LP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LP_BINARY", os.path.join(SRC, "build", "leadpipe"))
PIPELINE = os.path.join(SRC, "pipelines", "default.yaml")
LEAD_AVSC = os.path.join(SRC, "schemas", "lead.avsc")
TIMEOUT = 50

GOOD = 300
BAD = {  # line number in the CSV -> the code its row must be rejected with
    42: ("LP_E_NUMBER_INVALID", '"lots"'),
    100: ("LP_E_NUMBER_INVALID", '"a lot"'),
    251: ("LP_E_TIMESTAMP_INVALID", '"yesterday"'),
}


def lead_id(i):
    return f"L-{i:05d}"


def write_csv(path, email_header="Email"):
    """GOOD good rows with ids L-00000.., and the BAD rows at their lines."""
    lines = [f"Lead ID,First Name,Last Name,{email_header},Company,# Employees,"
             "Annual Revenue,Created Date,Country"]
    i = 0
    while len(lines) < GOOD + len(BAD) + 1:
        line_no = len(lines) + 1
        if line_no in BAD:
            emp, rev, created = "120", "$1M", "2026-01-05"
            if line_no == 42:
                emp = "lots"
            elif line_no == 100:
                rev = "a lot"
            else:
                created = "yesterday"
            lines.append(f"BAD-{line_no},Bad,Row,bad{line_no}@example.com,Acme,{emp},{rev},"
                         f"{created},US")
            continue
        lines.append(f"{lead_id(i)},Ana,García,ana{i}@acme.io,Acme {i},\"1,2{i % 10}0\","
                     f"$4.5M,2026-01-0{1 + i % 9},ES")
        i += 1
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


class Broker:
    """`leadpipe broker` in the background; bootstrap is its address."""

    def __init__(self, partitions=6):
        self.p = subprocess.Popen([BIN, "broker", "--partitions", str(partitions)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.p.stdout], [], [], TIMEOUT)
        if not ready:
            self.stop()
            raise AssertionError("leadpipe broker printed no bootstrap line")
        line = self.p.stdout.readline().strip()
        if not line.startswith("bootstrap.servers=127.0.0.1:"):
            self.stop()
            raise AssertionError(f"unexpected first line {line!r}: {self.p.stderr.read()}")
        self.bootstrap = line.split("=", 1)[1]

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()
        return self.p.returncode


def run(*args, cwd=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=TIMEOUT)


def kcat(bootstrap, topic, *fmt):
    p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", *fmt],
                       capture_output=True, timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"kcat failed: {p.stderr.decode(errors='replace')}")
    return p.stdout


def read_lead(datum):
    with open(LEAD_AVSC, encoding="utf-8") as f:
        schema = avro.schema.parse(f.read())
    return avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(datum)))


class ImportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()

    @classmethod
    def tearDownClass(cls):
        assert cls.broker.stop() == 0, "leadpipe broker did not exit 0 on SIGTERM"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_every_good_row_once_and_bad_rows_rejected(self):
        csv = os.path.join(self.dir, "export.csv")
        write_csv(csv)
        p = run("import", "--brokers", self.broker.bootstrap, "--topic", "leads.plain", csv,
                cwd=self.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        for line in (f"rows read   {GOOD + len(BAD)}", f"produced    {GOOD}",
                     f"delivered   {GOOD}", "failed      0", f"rejected    {len(BAD)}"):
            self.assertIn(line, p.stderr)

        keys = kcat(self.broker.bootstrap, "leads.plain", "-f", "%k\n").decode().split()
        self.assertEqual(len(keys), GOOD, "every good row exactly once")
        self.assertEqual(sorted(keys), [lead_id(i) for i in range(GOOD)])

        with open(os.path.join(self.dir, "import-rejected.jsonl"), encoding="utf-8") as f:
            rejected = [json.loads(line) for line in f]
        self.assertEqual(len(rejected), len(BAD))
        for r in rejected:
            line = r["origin"]["line"]
            self.assertIn(line, BAD)
            code, value = BAD[line]
            self.assertEqual(r["error_code"], code)
            self.assertIn(value, r["error_message"])
            self.assertEqual(r["origin"]["file"], csv)
            self.assertTrue(r["original"].startswith(f"BAD-{line},"))

    def test_pipeline_mappings_and_avro_values(self):
        csv = os.path.join(self.dir, "export.csv")
        write_csv(csv, email_header="Primary Email")  # mapped by pipelines/default.yaml
        rejects = os.path.join(self.dir, "bad.jsonl")
        # -c alone picks the pipeline's input topic, leads.raw
        p = run("import", "--brokers", self.broker.bootstrap, "-c", PIPELINE,
                "--rejects", rejects, "-X", "linger.ms=1", csv)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("topic leads.raw", p.stderr)
        with open(rejects, encoding="utf-8") as f:
            self.assertEqual(sum(1 for _ in f), len(BAD))

        value = kcat(self.broker.bootstrap, "leads.raw", "-c", "1", "-f", "%s")
        lead = read_lead(value)
        i = int(lead["lead_id"][2:])
        self.assertEqual(lead["email"], f"ana{i}@acme.io")
        self.assertEqual(lead["last_name"], "García")
        self.assertEqual(lead["company_name"], f"Acme {i}")
        self.assertEqual(lead["employee_count"], int(f"12{i % 10}0"))
        self.assertEqual(lead["annual_revenue"], 4.5e6)
        self.assertEqual(lead["country"], "ES")

    def test_confluent_format_carries_the_registry_id(self):
        registered = {}

        class Registry(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                registered[self.path] = json.loads(body)["schema"]
                answer = b'{"id": 7}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Registry)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            csv = os.path.join(self.dir, "export.csv")
            write_csv(csv)
            p = run("import", "--brokers", self.broker.bootstrap, "--topic", "leads.cf",
                    "--format", "confluent", "--schema-registry",
                    f"http://127.0.0.1:{server.server_port}", csv, cwd=self.dir)
        finally:
            server.shutdown()
            server.server_close()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("/subjects/leads.cf-value/versions", registered)
        self.assertEqual(json.loads(registered["/subjects/leads.cf-value/versions"])["name"],
                         "Lead")
        value = kcat(self.broker.bootstrap, "leads.cf", "-c", "1", "-f", "%s")
        self.assertEqual(value[:5], b"\x00\x00\x00\x00\x07")
        self.assertTrue(read_lead(value[5:])["lead_id"].startswith("L-"))

    def test_usage_errors_exit_2(self):
        csv = os.path.join(self.dir, "export.csv")
        write_csv(csv)
        p = run("import", "--brokers", self.broker.bootstrap, "--topic", "t",
                "-X", "no.such.property=1", csv)
        self.assertEqual(p.returncode, 2)
        self.assertIn("-X no.such.property: unknown librdkafka property", p.stderr)
        p = run("import", "--brokers", self.broker.bootstrap, "--topic", "t",
                "-X", "acks=sometimes", csv)
        self.assertEqual(p.returncode, 2)
        self.assertIn("acks=sometimes", p.stderr)
        p = run("import", "--brokers", self.broker.bootstrap, "--topic", "t",
                "--format", "confluent", csv)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--schema-registry", p.stderr)

    def test_unreachable_cluster_fails_fast(self):
        csv = os.path.join(self.dir, "export.csv")
        write_csv(csv)
        p = run("import", "--brokers", "127.0.0.1:1", "--topic", "t", csv, cwd=self.dir)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach the cluster at 127.0.0.1:1", p.stderr)

    def test_missing_input_file_exits_1(self):
        p = run("import", "--brokers", self.broker.bootstrap, "--topic", "t",
                os.path.join(self.dir, "nope.csv"), cwd=self.dir)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope.csv", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "import-rejected.jsonl")))


class BrokerCommandTest(unittest.TestCase):
    def test_help_says_development_broker(self):
        p = run("broker", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("DEVELOPMENT broker, not for production", p.stdout)
        self.assertIn("cannot\n                       bind the mock cluster to a chosen port",
                      p.stdout)

    def test_topics_have_the_requested_partitions(self):
        b = Broker(partitions=3)
        try:
            md = subprocess.run(["kcat", "-L", "-b", b.bootstrap, "-t", "leads.routed", "-J"],
                                capture_output=True, text=True, timeout=TIMEOUT)
            topics = json.loads(md.stdout)["topics"]
            self.assertEqual(len(topics[0]["partitions"]), 3)
        finally:
            self.assertEqual(b.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
