"""`leadpipe run` against the embedded broker, seen from outside.

What a user of the streaming runtime relies on, checked with an external
client (kcat) reading the output topics and python3-avro decoding the values
with the project's own schemas:
  - conservation: every input lead id has exactly one outcome (routed or
    rejected) on a clean run, and the outcome points back at its input
    through the leadpipe.source.* headers;
  - at-least-once across instances: a second instance joining, the first
    leaving on SIGTERM, or the first being killed -9 mid-stream loses no lead
    (duplicates are allowed, counted and printed);
  - poison messages (garbage, a truncated record, an empty value) end up in
    leads.rejected with LP_E_AVRO_DECODE and their original bytes, and the
    partition goes on;
  - SIGINT and SIGTERM stop an idle run with exit code 0 and a summary;
  - a tiny in-flight window (backpressure) still conserves every lead.

Each test owns its broker process and temp dir. Every wait has a generous
safety limit; no assertion depends on speed. Consumer-group runs always pass
a short session timeout: the mock coordinator otherwise waits 45 s before it
assigns a group that existed before (see /work/shared/notes/kafka-mock.md).
"""
import collections
import csv
import io
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
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
SCHEMAS = os.path.join(SRC, "schemas")

SAFETY = 120  # seconds; a safety limit for hangs, never an assertion on speed
GROUP_X = ["-X", "consumer.session.timeout.ms=6000", "-X", "consumer.heartbeat.interval.ms=500"]
# The mock coordinator waits session.timeout.ms - 1 s for members to rejoin
# whenever membership changes; an instance that must survive a rebalance
# gets an --idle-exit longer than that (see test_idle_exit_survives_a_rebalance).
SURVIVE_REBALANCE = "10s"
ID_COLUMN = "Apollo Contact Id"
DISPOSITIONS = {"sales", "nurture", "disqualified", "duplicate"}
SUMMARY = re.compile(r"leadpipe run: (\d+) consumed, (\d+) routed, (\d+) rejected, "
                     r"(\d+) nurture tasks, (\d+) delivered \((\d+) produced again\), "
                     r"([\d.]+) s")
ASSIGNED = re.compile(r"delegating assign of [1-9]\d* partition")


def schema(name):
    with open(os.path.join(SCHEMAS, name), encoding="utf-8") as f:
        return avro.schema.parse(f.read())


def decode(reader, value):
    return reader.read(avro.io.BinaryDecoder(io.BytesIO(value)))


def leadpipe(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=SAFETY)
    if p.returncode != 0:
        raise AssertionError(f"leadpipe {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p


def wait_for(what, predicate, limit=SAFETY):
    """Polls predicate until true; fails after the safety limit."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {limit} s")
        time.sleep(0.2)


class Msg(collections.namedtuple("Msg", "key value partition offset timestamp headers")):
    """One Kafka message as kcat printed it; key/value are bytes or None."""

    def source(self):
        h = self.headers
        return (h.get("leadpipe.source.topic"), int(h["leadpipe.source.partition"]),
                int(h["leadpipe.source.offset"]))


def parse_headers(raw):
    out = {}
    for item in raw.decode().split(",") if raw else []:
        name, _, value = item.partition("=")
        out[name] = value
    return out


def kcat_read(bootstrap, topic):
    """Every message of topic, with exact key and value bytes (length-prefixed)."""
    p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q",
                        "-f", "%K %S %p %o %T\n%k%s%h\n"], capture_output=True, timeout=SAFETY)
    if p.returncode != 0:
        raise AssertionError(f"kcat -C {topic}: {p.stderr.decode(errors='replace')}")
    data, pos, msgs = p.stdout, 0, []
    while pos < len(data):
        nl = data.index(b"\n", pos)
        klen, vlen, part, off, ts = (int(x) for x in data[pos:nl].split(b" "))
        pos = nl + 1
        key = data[pos:pos + klen] if klen >= 0 else None
        pos += max(klen, 0)
        value = data[pos:pos + vlen] if vlen >= 0 else None
        pos += max(vlen, 0)
        nl = data.index(b"\n", pos)
        msgs.append(Msg(key, value, part, off, ts, parse_headers(data[pos:nl])))
        pos = nl + 1
    return msgs


def kcat_count(bootstrap, topic):
    p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "x"],
                       capture_output=True, timeout=SAFETY)
    return len(p.stdout)


def kcat_produce(bootstrap, topic, key, value, tmpdir):
    """Produces one message with exactly these value bytes (empty allowed)."""
    if value:
        path = os.path.join(tmpdir, f"{key}.bin")
        with open(path, "wb") as f:
            f.write(value)
        args, stdin = ["-k", key, path], None
    else:  # kcat skips empty files; a "key:" line is an empty value
        args, stdin = ["-K", "\t"], f"{key}\t\n".encode()
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, *args], input=stdin,
                       capture_output=True, timeout=SAFETY)
    if p.returncode != 0:
        raise AssertionError(f"kcat -P {key}: {p.stderr.decode(errors='replace')}")


def csv_ids(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [row[ID_COLUMN] for row in csv.DictReader(f)]


def split_csv(path, chunks):
    """Cuts a generated CSV (one line per row) into chunk files with its header."""
    with open(path, encoding="utf-8") as f:
        header, *rows = f.readlines()
    size = (len(rows) + chunks - 1) // chunks
    paths = []
    for i in range(chunks):
        out = f"{path[:-4]}.{i}.csv"
        with open(out, "w", encoding="utf-8") as f:
            f.writelines([header, *rows[i * size:(i + 1) * size]])
        paths.append(out)
    return paths


def import_file(bootstrap, path):
    """Imports one CSV to leads.raw; returns how many rows were produced."""
    p = leadpipe("import", "--brokers", bootstrap, "--topic", "leads.raw", path)
    m = re.search(r"produced\s+(\d+)", p.stderr)
    assert m, p.stderr
    return int(m.group(1))


class Broker:
    """`leadpipe broker` in the background; bootstrap is its address."""

    def __init__(self, partitions):
        self.p = subprocess.Popen([BIN, "broker", "--partitions", str(partitions)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([self.p.stdout], [], [], SAFETY)
        line = self.p.stdout.readline().strip() if ready else ""
        if not line.startswith("bootstrap.servers=127.0.0.1:"):
            self.stop()
            raise AssertionError(f"leadpipe broker printed no bootstrap line ({line!r})")
        self.bootstrap = line.split("=", 1)[1]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(SAFETY)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        return self.p.returncode


class Run:
    """`leadpipe run` in the background, its stderr in a file."""

    def __init__(self, tmpdir, name, bootstrap, *extra, threads=1, idle_exit=None,
                 pipeline=PIPELINE, watch_group=False):
        self.name = name
        self.log_path = os.path.join(tmpdir, f"{name}.stderr")
        args = [BIN, "run", "-c", pipeline, "--brokers", bootstrap, "--threads", str(threads),
                *GROUP_X, *extra]
        if idle_exit:
            args += ["--idle-exit", idle_exit]
        if watch_group:  # librdkafka's group log, to see when partitions are assigned
            args += ["-X", "consumer.debug=cgrp"]
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log)

    def stderr(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def tail(self, lines=15):
        own = [l for l in self.stderr().splitlines() if not l.startswith("%7|")]
        return f"--- {self.name} stderr (librdkafka debug omitted) ---\n" + "\n".join(own[-lines:])

    def assigned(self):
        return ASSIGNED.search(self.stderr()) is not None

    def wait(self, limit=SAFETY):
        try:
            return self.p.wait(limit)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {limit} s\n{self.tail()}")

    def summary(self):
        """The final line's figures: consumed, routed, rejected, tasks, delivered, seconds."""
        m = SUMMARY.search(self.stderr())
        if not m:
            raise AssertionError(f"{self.name} printed no summary line\n{self.tail()}")
        keys = ("consumed", "routed", "rejected", "tasks", "delivered", "retried")
        out = {k: int(v) for k, v in zip(keys, m.groups())}
        out["seconds"] = float(m.group(7))
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.log.close()


class Outcomes:
    """leads.routed and leads.rejected as an external consumer sees them."""

    def __init__(self, bootstrap):
        self.routed = kcat_read(bootstrap, "leads.routed")
        self.rejected = kcat_read(bootstrap, "leads.rejected")
        self.all = self.routed + self.rejected
        self.per_key = collections.Counter(m.key.decode() for m in self.all)

    def duplicates(self):
        """Outcomes beyond the first for a lead id (0 on an exactly-once run)."""
        return sum(n - 1 for n in self.per_key.values())

    def missing(self, ids):
        return sorted(set(ids) - set(self.per_key))


class StreamTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.procs = []
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for p in reversed(self.procs):
            p.stop()

    def broker(self, partitions):
        b = Broker(partitions)
        self.procs.append(b)
        return b

    def run_pipeline(self, name, bootstrap, *extra, **kw):
        r = Run(self.dir, name, bootstrap, *extra, **kw)
        self.procs.append(r)
        return r

    def gen(self, leads, seed, name="leads.csv"):
        path = os.path.join(self.dir, name)
        leadpipe("gen", "--leads", str(leads), "--seed", str(seed), "-o", path)
        return path

    def import_live(self, bootstrap, chunks, pause=0.5):
        """Imports chunk files one by one with a pause, so the stream is live."""
        produced = 0
        for path in chunks:
            produced += import_file(bootstrap, path)
            time.sleep(pause)
        return produced

    def assert_no_loss(self, out, ids, runs):
        missing = out.missing(ids)
        self.assertEqual(missing[:10], [], f"{len(missing)} input leads have no outcome\n"
                         + "\n".join(r.tail() for r in runs))

    def assert_headers_point_at_input(self, out, raw):
        """Each outcome names its input message, whose key is the outcome's key."""
        by_pos = {(m.partition, m.offset): m for m in raw}
        for m in out.all:
            topic, part, off = m.source()
            self.assertEqual(topic, "leads.raw")
            self.assertEqual(by_pos[(part, off)].key, m.key, f"outcome at {part}/{off}")

    # -- 1 -----------------------------------------------------------------

    def test_every_lead_has_an_outcome_readable_with_the_schemas(self):
        b = self.broker(partitions=12)
        csv_path = self.gen(20000, seed=11)
        ids = csv_ids(csv_path)
        self.assertEqual(len(set(ids)), 20000)
        imported = import_file(b.bootstrap, csv_path)
        self.assertEqual(imported, 20000)

        r = self.run_pipeline("run", b.bootstrap, threads=2, idle_exit="2s")
        self.assertEqual(r.wait(), 0, r.tail())
        s = r.summary()

        raw = kcat_read(b.bootstrap, "leads.raw")
        self.assertEqual(len(raw), imported)
        out = Outcomes(b.bootstrap)
        self.assertEqual(out.missing(ids), [])
        # Two workers join one group, so the second join rebalances the first.
        # The development broker refuses commits while a group re-forms
        # (README, "development broker"), so records the first worker finished
        # just before may be redelivered: at-least-once allows it, and a real
        # broker takes the revoke's commit. Count them; never lose one.
        dups = out.duplicates()
        self.assertLess(dups, imported // 4, r.tail())
        self.assertEqual(len(out.routed) + len(out.rejected), imported + dups)
        self.assertEqual((s["consumed"], s["routed"], s["rejected"]),
                         (imported + dups, len(out.routed), len(out.rejected)))
        self.assertGreater(len(out.rejected), 0, "gen writes ~2% invalid leads")
        self.assert_headers_point_at_input(out, raw)

        routed = avro.io.DatumReader(schema("routed_lead.avsc"))
        for m in out.routed:
            v = decode(routed, m.value)
            self.assertEqual(v["lead"]["lead_id"], m.key.decode())
            self.assertTrue(0 <= v["score"]["total"] <= 100, v["score"])
            self.assertIn(v["disposition"], DISPOSITIONS)
            self.assertEqual(v["pipeline"]["name"], "default")
        rejected = avro.io.DatumReader(schema("rejected.avsc"))
        raw_at = {(m.partition, m.offset): m.value for m in raw}
        codes = collections.Counter()
        for m in out.rejected:
            v = decode(rejected, m.value)
            self.assertTrue(v["error_code"].startswith("LP_E_"), v["error_code"])
            self.assertEqual(v["lead_id"], m.key.decode())
            self.assertTrue(v["error_message"])
            origin = ("leads.raw", v["origin"]["partition"], v["origin"]["offset"])
            self.assertEqual(origin, m.source())
            self.assertEqual(v["original"], raw_at[origin[1:]], "original bytes untouched")
            codes[v["error_code"]] += 1

        stamps = sorted(m.timestamp for m in out.all)
        span = max((stamps[-1] - stamps[0]) / 1000.0, 0.001)
        print(f"\n  conservation: {imported} leads -> {len(out.routed)} routed + "
              f"{len(out.rejected)} rejected, {dups} duplicates; rejects {dict(codes)}; "
              f"{s['tasks']} nurture tasks; outputs spread over {span:.2f} s "
              f"(~{imported / span:.0f} leads/s); run {s['seconds']:.1f} s including "
              f"group join and idle wait", file=sys.stderr)

    # -- 2 -----------------------------------------------------------------

    def test_second_instance_joins_and_first_leaves_on_sigterm_without_loss(self):
        b = self.broker(partitions=8)
        csv_path = self.gen(12000, seed=12)
        ids = csv_ids(csv_path)
        chunks = split_csv(csv_path, 8)

        a = self.run_pipeline("A", b.bootstrap, watch_group=True)
        produced = self.import_live(b.bootstrap, chunks[:2])
        wait_for("A's first outcomes", lambda: kcat_count(b.bootstrap, "leads.routed") > 0)
        # B needs an idle exit longer than the rebalance after A leaves
        bb = self.run_pipeline("B", b.bootstrap, idle_exit=SURVIVE_REBALANCE, watch_group=True)
        produced += self.import_live(b.bootstrap, chunks[2:5])
        wait_for("B's first assignment", bb.assigned)
        a.p.send_signal(signal.SIGTERM)
        self.assertEqual(a.wait(), 0, a.tail())
        produced += self.import_live(b.bootstrap, chunks[5:])
        self.assertEqual(bb.wait(), 0, bb.tail())

        self.assertEqual(produced, len(ids))
        out = Outcomes(b.bootstrap)
        self.assert_no_loss(out, ids, [a, bb])
        sa, sb = a.summary(), bb.summary()
        self.assertGreater(sa["consumed"], 0, a.tail())
        self.assertGreater(sb["consumed"], 0, bb.tail())
        self.assertEqual(sa["consumed"] + sb["consumed"], len(out.all),
                         "every consumed record has exactly one outcome")
        print(f"\n  two instances: {len(ids)} leads, A consumed {sa['consumed']}, "
              f"B consumed {sb['consumed']}, duplicates {out.duplicates()}", file=sys.stderr)

    # -- 3 -----------------------------------------------------------------

    def test_instance_killed_mid_stream_loses_nothing(self):
        b = self.broker(partitions=8)
        csv_path = self.gen(12000, seed=13)
        ids = csv_ids(csv_path)
        chunks = split_csv(csv_path, 8)

        a = self.run_pipeline("A", b.bootstrap)
        produced = self.import_live(b.bootstrap, chunks[:3])
        wait_for("A's first outcomes", lambda: kcat_count(b.bootstrap, "leads.routed") > 0)
        # one chunk with time for a periodic commit, then one caught in flight
        produced += self.import_live(b.bootstrap, chunks[3:4], pause=1.5)
        produced += import_file(b.bootstrap, chunks[4])
        a.p.kill()  # SIGKILL: no drain, no commit, no LeaveGroup
        a.wait()
        before_kill = produced
        a2 = self.run_pipeline("A2", b.bootstrap, idle_exit=SURVIVE_REBALANCE)
        produced += self.import_live(b.bootstrap, chunks[5:])
        self.assertEqual(a2.wait(), 0, a2.tail())

        self.assertEqual(produced, len(ids))
        out = Outcomes(b.bootstrap)
        self.assert_no_loss(out, ids, [a2])
        dups = out.duplicates()
        # redelivered = consumed by A but not committed: never more than what
        # existed when A died, and here well under half of the stream
        self.assertLessEqual(dups, before_kill)
        self.assertLess(dups, len(ids) // 2)
        print(f"\n  crash: {len(ids)} leads, {before_kill} produced before kill -9, "
              f"A2 consumed {a2.summary()['consumed']}, duplicates {dups}", file=sys.stderr)

    # -- 4 -----------------------------------------------------------------

    def test_poison_messages_are_rejected_with_their_bytes_and_the_partition_goes_on(self):
        b = self.broker(partitions=1)  # one partition: "after the poison" is well defined
        csv_path = self.gen(1000, seed=14)
        ids = csv_ids(csv_path)
        first, second = split_csv(csv_path, 2)
        import_file(b.bootstrap, first)
        good = kcat_read(b.bootstrap, "leads.raw")[0].value
        poison = {
            "POISON-GARBAGE": b"\xff" * 24 + b"this is not an avro lead\x00\x01",
            # cut inside the first field, lead_id (see test_truncated_record_...)
            "POISON-TRUNCATED": good[:10],
            "POISON-EMPTY": b"",
        }
        for key, value in poison.items():
            kcat_produce(b.bootstrap, "leads.raw", key, value, self.dir)
        import_file(b.bootstrap, second)

        r = self.run_pipeline("run", b.bootstrap, idle_exit="2s")
        self.assertEqual(r.wait(), 0, r.tail())

        raw = kcat_read(b.bootstrap, "leads.raw")
        self.assertEqual(len(raw), len(ids) + len(poison))
        out = Outcomes(b.bootstrap)
        self.assertEqual(out.missing(ids), [])
        self.assertEqual(out.duplicates(), 0)
        self.assertEqual(sorted(m.source()[2] for m in out.all), list(range(len(raw))),
                         "every input offset, before and after the poison, has one outcome")

        reader = avro.io.DatumReader(schema("rejected.avsc"))
        rejected = {m.key.decode(): (m, decode(reader, m.value)) for m in out.rejected}
        for key, value in poison.items():
            with self.subTest(key=key):
                self.assertIn(key, rejected)
                m, v = rejected[key]
                self.assertEqual(v["error_code"], "LP_E_AVRO_DECODE")
                self.assertEqual(v["stage"], "decode")
                self.assertEqual(v["original"], value)
                self.assertIsNone(v["lead_id"])
                self.assertTrue(v["error_message"])
                pos = next(x.offset for x in raw if x.key == key.encode())
                self.assertEqual((v["origin"]["source"], v["origin"]["offset"]),
                                 ("leads.raw", pos))
                self.assertEqual(m.source(), ("leads.raw", 0, pos))
        self.assertEqual(r.summary()["consumed"], len(raw))

    def test_truncated_record_is_rejected_under_its_message_key(self):
        b = self.broker(partitions=1)
        csv_path = self.gen(20, seed=15)
        ids = csv_ids(csv_path)
        import_file(b.bootstrap, csv_path)
        good = kcat_read(b.bootstrap, "leads.raw")[0]
        cut = good.value[:len(good.value) // 2]  # lead_id intact, the rest cut
        kcat_produce(b.bootstrap, "leads.raw", "POISON-TRUNCATED", cut, self.dir)

        r = self.run_pipeline("run", b.bootstrap, idle_exit="2s")
        self.assertEqual(r.wait(), 0, r.tail())
        out = Outcomes(b.bootstrap)
        self.assertEqual(out.missing(ids), [])
        self.assertEqual(out.per_key[good.key.decode()], 1, "the real lead has one outcome")
        self.assertEqual(out.per_key["POISON-TRUNCATED"], 1)
        m = next(m for m in out.rejected if m.key == b"POISON-TRUNCATED")
        v = decode(avro.io.DatumReader(schema("rejected.avsc")), m.value)
        self.assertEqual((v["error_code"], v["stage"], v["original"], v["lead_id"]),
                         ("LP_E_AVRO_DECODE", "decode", cut, None))

    def test_idle_exit_survives_a_rebalance(self):
        b = self.broker(partitions=2)
        csv_path = self.gen(2000, seed=17)
        ids = csv_ids(csv_path)
        first, second = split_csv(csv_path, 2)
        a = self.run_pipeline("A", b.bootstrap)
        import_file(b.bootstrap, first)
        wait_for("A's first outcomes", lambda: kcat_count(b.bootstrap, "leads.routed") > 0)
        bb = self.run_pipeline("B", b.bootstrap, idle_exit="2s", watch_group=True)
        wait_for("B's first assignment", bb.assigned)
        a.p.send_signal(signal.SIGTERM)  # A leaves: B must take over both partitions
        self.assertEqual(a.wait(), 0, a.tail())
        import_file(b.bootstrap, second)
        self.assertEqual(bb.wait(), 0, bb.tail())
        self.assert_no_loss(Outcomes(b.bootstrap), ids, [a, bb])

    def test_sigterm_with_outputs_in_flight_drains_and_exits_0(self):
        b = self.broker(partitions=4)
        csv_path = self.gen(20000, seed=18)
        ids = csv_ids(csv_path)
        import_file(b.bootstrap, csv_path)
        # a long linger keeps outputs unacknowledged while the worker drains
        r = self.run_pipeline("A", b.bootstrap, "-X", "producer.linger.ms=2000",
                              watch_group=True)
        wait_for("A's assignment", r.assigned)
        time.sleep(0.5)  # let it fetch and process some; not an assertion
        r.p.send_signal(signal.SIGTERM)
        self.assertEqual(r.wait(), 0, r.tail())
        r2 = self.run_pipeline("A2", b.bootstrap, idle_exit="2s")
        self.assertEqual(r2.wait(), 0, r2.tail())
        out = Outcomes(b.bootstrap)
        self.assert_no_loss(out, ids, [r, r2])
        self.assertEqual(out.duplicates(), 0, "a drained SIGTERM leaves nothing to redeliver")

    # -- 5 -----------------------------------------------------------------

    def test_sigint_and_sigterm_stop_an_idle_run_with_exit_0(self):
        b = self.broker(partitions=2)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                # a group of its own: rejoining a known group costs a session timeout
                r = self.run_pipeline(sig.name, b.bootstrap, "--group", f"g-{sig.name}",
                                      watch_group=True)
                wait_for(f"{sig.name} run's assignment", r.assigned)
                r.p.send_signal(sig)
                self.assertEqual(r.wait(limit=30), 0, r.tail())
                s = r.summary()
                self.assertEqual((s["consumed"], s["routed"], s["rejected"]), (0, 0, 0))

    # -- 6 -----------------------------------------------------------------

    def test_tiny_inflight_window_still_conserves_every_lead(self):
        b = self.broker(partitions=12)
        csv_path = self.gen(20000, seed=16)
        ids = csv_ids(csv_path)
        imported = import_file(b.bootstrap, csv_path)
        pipeline = os.path.join(self.dir, "small-window.yaml")
        with open(PIPELINE, encoding="utf-8") as f:
            text = f.read()
        if re.search(r"^kafka:\s*$", text, re.M):
            text = re.sub(r"^kafka:\s*$", "kafka:\n  max_inflight: 100", text, count=1,
                          flags=re.M)
        else:
            text += "\nkafka:\n  max_inflight: 100\n"
        with open(pipeline, "w", encoding="utf-8") as f:
            f.write(text)

        # One worker: no rebalance inside the run, so nothing may be redelivered.
        r = self.run_pipeline("run", b.bootstrap, "-X", "consumer.queued.max.messages.kbytes=1024",
                              idle_exit="2s", pipeline=pipeline)
        self.assertEqual(r.wait(), 0, r.tail())
        out = Outcomes(b.bootstrap)
        self.assertEqual(out.missing(ids), [])
        self.assertEqual(out.duplicates(), 0, r.tail())
        self.assertEqual(len(out.all), imported)
        self.assertEqual(r.summary()["consumed"], imported)
        self.assert_headers_point_at_input(out, kcat_read(b.bootstrap, "leads.raw"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
