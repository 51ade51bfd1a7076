"""A child process for the supervisor's unit tests: `python fake_child.py WHAT [N]`.

    sleep      print "start PID", sleep until SIGTERM, print "stop", exit 0
    crash N    print "start PID", exit N at once
    stubborn   print "start PID", ignore SIGTERM (only SIGKILL ends it)
    spawn      start a grandchild in the same process group that ignores SIGTERM, print
               "start PID GRANDCHILD", then behave as sleep
    chatter N  print "start PID" and N lines of 99 bytes, then sleep
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def main(what: str, arg: str = "0") -> int:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    extra = ""
    if what == "spawn":
        grandchild = subprocess.Popen(
            [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
             "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
            stdout=subprocess.PIPE)
        assert grandchild.stdout is not None
        grandchild.stdout.readline()  # it ignores SIGTERM from now on
        extra = f" {grandchild.pid}"
    if what == "stubborn":  # before "start": a SIGTERM right after it is ignored too
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"start {os.getpid()}{extra}", flush=True)
    if what == "crash":
        return int(arg)
    if what == "chatter":
        for i in range(int(arg)):
            print(f"{i:08d} " + "x" * 89, flush=True)
    deadline = time.monotonic() + 60
    while not stopping and time.monotonic() < deadline:
        time.sleep(0.01)
    print("stop", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
