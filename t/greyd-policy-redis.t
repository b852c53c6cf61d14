#!/usr/bin/python3
# greyd-policy-redis.t - t/greyd-policy.t (postgrey's decisions, whitelist
# files, log lines, restart and kill -9 of the daemon) run unchanged
# against the Redis store: both stores pass the same suite.
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
os.execve(sys.executable, [sys.executable,
                           os.path.join(here, "greyd-policy.t")],
          dict(os.environ, POSTERN_TEST_STORE="redis"))
