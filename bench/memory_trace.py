"""Resident memory of a command over its run: samples VmRSS / VmHWM of the process every
--every seconds, notes the resident size at each output line that starts an epoch report, and
prints the peak (the kernel's maximum resident set size of the child) at the end.

  python3 bench/memory_trace.py [--every S] [--log FILE] -- COMMAND ARGS...

Run the CLI's built binary (src/SparseSwitch.Cli/bin/Release/net10.0/SparseSwitch.Cli), not
`dotnet run`, so that the process measured is the training process itself. Example (the CIFAR-10
P1 recipe, three epochs):

  dotnet build -c Release
  python3 bench/memory_trace.py -- src/SparseSwitch.Cli/bin/Release/net10.0/SparseSwitch.Cli train \
      --model resnet20-a --data cifar10 --augment --subnets 0.1,0.05,0.02 --epochs 3 --batch-size 128 \
      --lr 0.1 --momentum 0.9 --wd 5e-4 --schedule cosine --prune-start 0 --prune-end 3 \
      --update-every 33 --prune-rate 0.5 --threads 2 --out /tmp/mem-p1
"""
import argparse
import re
import resource
import subprocess
import sys
import threading
import time


def status(pid):
    """VmRSS and VmHWM of a process in MiB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    kb = {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}
    if "VmRSS" not in kb:
        return None
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def main():
    ap = argparse.ArgumentParser(usage="%(prog)s [--every S] [--log FILE] -- COMMAND ARGS...")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples (default 5)")
    ap.add_argument("--log", help="also write the samples to this file")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command given")
    log = open(a.log, "w") if a.log else None
    t0 = time.monotonic()

    def say(line):
        print(line, flush=True)
        if log:
            log.write(line + "\n")
            log.flush()

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    done = threading.Event()

    def sample():
        while not done.wait(a.every):
            s = status(proc.pid)
            if s:
                say(f"[mem] t={time.monotonic() - t0:7.1f}s rss={s[0]:8.1f} MiB hwm={s[1]:8.1f} MiB")

    threading.Thread(target=sample, daemon=True).start()
    epochs = []
    for line in proc.stdout:
        line = line.rstrip("\n")
        say(line)
        if re.match(r"^\s*(\S+\s+)?epoch \d+/\d+", line):
            s = status(proc.pid)
            if s:
                epochs.append((line.split(":")[0].strip(), s))
                say(f"[mem] after {epochs[-1][0]}: rss={s[0]:.1f} MiB hwm={s[1]:.1f} MiB")
    rc = proc.wait()
    done.set()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for name, (rss, hwm) in epochs:
        say(f"[mem] {name:30s} rss {rss:8.1f} MiB  peak so far {hwm:8.1f} MiB")
    say(f"[mem] exit {rc}, {time.monotonic() - t0:.0f} s, peak resident {peak:.1f} MiB")
    sys.exit(rc)


if __name__ == "__main__":
    main()
