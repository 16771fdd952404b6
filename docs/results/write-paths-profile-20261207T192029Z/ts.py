"""Each line of stdin to stdout after the Unix time it arrived, so that perf's samples can be split at the log."""
import sys
import time

for line in sys.stdin:
    sys.stdout.write(f"{time.time():.6f} {line}")
    sys.stdout.flush()
