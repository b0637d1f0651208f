"""`leadpipe cache load|stats|get|purge` end to end, and crash safety.

A crash in the middle of a batched load (kill -9) must leave a cache that
opens, whose every entry decodes, and whose content is a prefix of the input:
each write transaction commits whole batches or nothing.
"""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

SRC = os.environ.get("LP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LP_BINARY", os.path.join(SRC, "build", "leadpipe"))
HEADER = "domain,name,industry,employee_count,annual_revenue,country,region,city,technologies\n"


def run(*args, check=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}:\n{p.stderr}")
    return p


def write_firmographics(path, n):
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(n):
            f.write(f'co{i}.example.com,"Company {i}, Inc",Software,{i % 5000 + 1},'
                    f'{i * 10}.5,US,CA,San Francisco,"Salesforce; HubSpot"\n')


def company_entries(db):
    out = run("cache", "stats", "--db", db).stdout
    m = re.search(r"^company\s+(\d+) entries: (\d+) live", out, re.M)
    return int(m.group(1)), out


class CacheCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "enrich.mdb")

    def tearDown(self):
        self.tmp.cleanup()

    def test_load_get_stats_purge(self):
        csv = os.path.join(self.tmp.name, "firmo.csv")
        with open(csv, "w", encoding="utf-8") as f:
            f.write(HEADER)
            f.write('https://www.Acme.com/about,Acme,Software,250,1000000,US,CA,Oakland,"Go;C"\n')
            f.write("not a domain,Bad,x,1,2,US,,,\n")
            f.write("globex.com,Globex,Manufacturing,lots,2,US,,,\n")
        p = run("cache", "load", "--db", self.db, csv)
        self.assertIn("loaded 3 rows", p.stdout)
        self.assertIn("1 company and 0 person entries, 2 rows skipped", p.stdout)
        got = json.loads(run("cache", "get", "--db", self.db, "ACME.com").stdout)
        self.assertEqual(got["key"], "acme.com")
        self.assertEqual(got["ttl_s"], 30 * 86400)
        self.assertFalse(got["expired"])
        self.assertEqual(got["fields"], {
            "company_name": "Acme", "company_domain": "acme.com", "industry": "Software",
            "employee_count": 250, "annual_revenue": 1000000.0, "country": "US",
            "region": "CA", "city": "Oakland", "technologies": ["Go", "C"]})
        miss = run("cache", "get", "--db", self.db, "globex.com", check=False)
        self.assertEqual(miss.returncode, 1)
        self.assertIn("no company entry for globex.com", miss.stderr)
        # entries with a 1ms TTL are expired by the time stats and purge look
        run("cache", "load", "--db", self.db, "--ttl", "1ms", csv)
        time.sleep(0.01)
        n, out = company_entries(self.db)
        self.assertIn("0 live, 0 negative, 1 expired", out)
        p = run("cache", "purge", "--db", self.db)
        self.assertIn("purged 1 expired entries", p.stdout)
        self.assertEqual(company_entries(self.db)[0], 0)

    def test_person_rows_need_an_email_column(self):
        csv = os.path.join(self.tmp.name, "people.csv")
        with open(csv, "w", encoding="utf-8") as f:
            f.write("email,first_name,title,seniority,company_domain,industry\n")
            f.write("Jane.Doe@Acme.com,Jane,VP Sales,vp,acme.com,Software\n")
        p = run("cache", "load", "--db", self.db, csv)
        self.assertIn("1 company and 1 person entries", p.stdout)
        got = json.loads(run("cache", "get", "--db", self.db, "jane.doe@acme.com").stdout)
        self.assertEqual(got["fields"]["title"], "VP Sales")
        self.assertEqual(got["fields"]["company_domain"], "acme.com")

    def test_usage_errors_exit_2(self):
        self.assertEqual(run("cache", "frobnicate", check=False).returncode, 2)
        self.assertEqual(run("cache", "stats", check=False).returncode, 2)
        p = run("cache", "stats", "--db", os.path.join(self.tmp.name, "none"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot open cache", p.stderr)

    def test_kill_during_batched_load_leaves_a_consistent_prefix(self):
        n, batch = 400000, 1000
        csv = os.path.join(self.tmp.name, "big.csv")
        write_firmographics(csv, n)
        proc = subprocess.Popen([BIN, "cache", "load", "--db", self.db, "--batch", str(batch),
                                 csv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        data = os.path.join(self.db, "data.mdb")
        while proc.poll() is None:
            if os.path.exists(data) and os.path.getsize(data) > 8 << 20:
                break
            time.sleep(0.002)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        count, out = company_entries(self.db)
        self.assertNotIn("UNDECODABLE", out)
        self.assertGreater(count, 0)
        if killed:
            self.assertEqual(count % batch, 0, "a batch was torn")
        # a prefix: the last committed row is there, the next one is not
        run("cache", "get", "--db", self.db, f"co{count - 1}.example.com")
        if count < n:
            self.assertEqual(
                run("cache", "get", "--db", self.db, f"co{count}.example.com",
                    check=False).returncode, 1)
        # and the cache still takes writes after the crash
        p = run("cache", "load", "--db", self.db, csv)
        self.assertEqual(company_entries(self.db)[0], n)


if __name__ == "__main__":
    unittest.main()
