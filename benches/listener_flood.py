#!/usr/bin/env python3
"""The metrics listener under a connection flood, against the real binary (issue 11, row 13).

Starts `feedwatch run` with `[http] listen` at a 1,024 open-file limit (the default without
the unit's LimitNOFILE), opens 1,050 idle connections, sends SIGHUP, then holds 500
connections that trickle a request's headers a byte a second. Prints the daemon's open file
handles, /healthz's answer and how long the listener took to drop each kind.

    benches/listener_flood.py [path/to/feedwatch]

Loopback only; the feed is a local file. Needs Linux (/proc).
"""
import os, resource, signal, shutil, socket, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/debug/feedwatch")
rules = os.path.join(root, "config/rules.toml")
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
d = tempfile.mkdtemp()
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
feed = os.path.join(d, "feed.xml")
open(feed, "w").write('<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                      '<item><title>x</title><link>http://news.invalid/1</link></item></channel></rss>')
cfg = os.path.join(d, "feedwatch.toml")
open(cfg, "w").write(f'rule_files = ["{rules}"]\n[storage]\ndatabase = "data/fw.db"\n'
                     f'[alerts]\nlog = "data/alerts.jsonl"\n[http]\nlisten = "127.0.0.1:{port}"\n'
                     f'[[feeds]]\nurl = "file://{feed}"\ninterval = "2m"\n')
log = open(os.path.join(d, "stderr.log"), "w")
p = subprocess.Popen(["sh", "-c", f'ulimit -n 1024; exec "{binary}" --config "{cfg}" run'],
                     stdout=subprocess.DEVNULL, stderr=log)
time.sleep(2)

def fds():
    return len(os.listdir(f"/proc/{p.pid}/fd"))

def healthz():
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = c.recv(100); c.close()
        return r.split(b"\r\n")[0].decode()
    except OSError as e:
        return f"error: {e}"

print(f"baseline: {fds()} fds; /healthz: {healthz()}")
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1050)]
time.sleep(1)
print(f"1,050 idle connections open: daemon holds {fds()} fds; /healthz: {healthz()}")
os.kill(p.pid, signal.SIGHUP)
time.sleep(1)
reloaded = "reload applied" in open(os.path.join(d, "stderr.log")).read()
print(f"SIGHUP during the flood: reload applied = {reloaded}")
t0 = time.time()
while fds() > 40 and time.time() - t0 < 30:
    time.sleep(0.2)
print(f"idle connections dropped after {time.time() - t0:.1f}s: daemon holds {fds()} fds; /healthz: {healthz()}")
for c in idle: c.close()

slow = []
for _ in range(500):
    c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: "); slow.append(c)
t0 = time.time()
alive = len(slow)
while time.time() - t0 < 60:
    alive = 0
    for c in slow:
        try:
            c.sendall(b"a"); alive += 1
        except OSError:
            pass
    if alive == 0:
        break
    time.sleep(1)
print(f"500 slow-header connections (a byte a second): all closed after {time.time() - t0:.1f}s; /healthz: {healthz()}; daemon fds {fds()}")
p.send_signal(signal.SIGTERM); p.wait(10)
shutil.rmtree(d, ignore_errors=True)
