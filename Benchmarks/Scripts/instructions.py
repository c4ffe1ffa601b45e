#!/usr/bin/env python3
"""Instructions per operation, counted by callgrind (`make callgrind`).

Runs the InstructionCounts executable under valgrind --tool=callgrind at
two iteration counts per operation and prints
(Ir(high) - Ir(low)) / (high - low): set-up and start-up cancel, and the
figure is the same from one run to the next, whatever the machine is doing.

Usage: instructions.py BINARY [OPERATION ...]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

LOW, HIGH = 1_000, 21_000
DEFAULT = ["get", "get-name", "set-remove", "replace", "run-copy", "first-write", "request-writes", "request-snapshot",
           "run-copy-async", "withvalue-async"]


def collected(binary, operation, iterations):
    with tempfile.NamedTemporaryFile(prefix="callgrind.") as out:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
             binary, operation, str(iterations)],
            capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"callgrind: {operation} {iterations} exited {run.returncode}:\n{run.stderr[-2000:]}")
    match = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
    if match is None:
        sys.exit(f"callgrind: no 'Collected' line for {operation}:\n{run.stderr[-2000:]}")
    return int(match.group(1))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary, operations = sys.argv[1], sys.argv[2:] or DEFAULT
    if shutil.which("valgrind") is None:
        sys.exit("callgrind: valgrind not found (apt-get install valgrind)")
    # valgrind 3.19 cannot read the DWARF 5 that Swift emits and gives up on
    # the binary: count a copy without debug information.
    stripped = os.path.join(tempfile.mkdtemp(prefix="instructions."), "InstructionCounts")
    shutil.copy(binary, stripped)
    subprocess.run(["strip", "--strip-debug", stripped], check=True)
    binary = stripped
    print(f"{'operation':<14}{'instructions/op':>16}")
    for operation in operations:
        low = collected(binary, operation, LOW)
        high = collected(binary, operation, HIGH)
        print(f"{operation:<14}{(high - low) / (HIGH - LOW):>16.1f}")


if __name__ == "__main__":
    main()
