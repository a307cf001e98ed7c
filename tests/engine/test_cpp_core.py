"""The core's C++ unit tests (tests/cpp) under AddressSanitizer, UBSan and valgrind.

Runs tests/cpp/run_sanitizers.sh, which builds the tests with CMake into
build/cpp-tests (incremental on re-runs), runs them with ctest under
-fsanitize=address,undefined and the small batch cases under valgrind memcheck
when valgrind is installed.  Skipped when bash, CMake or a C++ compiler is
missing.  About a minute on 2 cores from a clean build.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "cpp" / "run_sanitizers.sh"

pytestmark = pytest.mark.sanitizers  # not in the default tier: .ci/run runs it (-m sanitizers)


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs CMake")
@pytest.mark.skipif(_compiler() is None, reason="needs a C++ compiler")
@pytest.mark.skipif(not SCRIPT.exists(), reason="tests/cpp is not part of this checkout")
def test_cpp_core_tests_under_sanitizers_and_valgrind():
    env = dict(os.environ)
    env.setdefault("LAWFIT_CPP_BUILD_DIR", str(ROOT / "build" / "cpp-tests"))
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    output = proc.stdout + proc.stderr
    summaries = re.findall(r"^(\d+) tests, (\d+) checks, (\d+) failed tests", output, re.M)
    print("\n".join(f"{t} tests, {c} checks, {f} failed" for t, c, f in summaries))
    failed = [line for line in output.splitlines()
              if "FAILED" in line or "runtime error" in line or "ERROR: AddressSanitizer" in line
              or re.search(r"ERROR SUMMARY: [1-9]", line)]
    assert proc.returncode == 0, "\n".join(failed[:60]) + "\n...\n" + output[-6000:]
    assert summaries, output[-3000:]
    assert "run_sanitizers: all passed" in output
