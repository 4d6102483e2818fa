"""The two checkers the browser tests run: axe-core inside a page, the Nu HTML checker over
saved HTML. Neither is fetched at run time: axe-core is vendored (vendor/README.md), the
checker's jar is put under .tools/ by `scripts/install test`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
VNU_JAR = ROOT / ".tools" / "vnu" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"

# What fails a page: axe rates each violation minor, moderate, serious or critical.
BLOCKING = ("serious", "critical")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every rule axe-core finds broken on the page as it is now, with the nodes that break it."""
    # Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does
    # not govern, so the page under test keeps its real headers.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(node['target'])}: {node['failureSummary'].splitlines()[-1].strip()}")
    return "\n".join(lines)


class HtmlCheck:
    """The Nu HTML checker, started in the background over saved pages and read when a test
    asks: the JVM then starts while the browser tests run. Whatever keeps it from running
    (no java, no jar, a page that would not load) is kept for that test to fail on."""

    def __init__(self) -> None:
        self.problem: str | None = None
        self.files: list[Path] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self, files: list[Path]) -> None:
        self.files = files
        java = shutil.which("java")
        if java is None:
            self.problem = "`java` is not on PATH: the Nu HTML checker needs it (`apt-get install default-jre-headless`, as .ci/run does)."
            return
        if not VNU_JAR.is_file():
            self.problem = f"The Nu HTML checker is missing ({VNU_JAR}): run `./scripts/install test`, which fetches npm package vnu-jar."
            return
        # A larger thread stack, which the checker's schema needs; the quick compiler and the
        # serial collector, as it runs once and briefly (half the CPU time of the defaults).
        command = [java, "-Xss4m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", str(VNU_JAR),
                   "--errors-only", "--format", "json", *map(str, files)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def errors(self) -> list[str]:
        """The checker's errors, as 'file:line:col: message' lines."""
        if self.problem is not None:
            pytest.fail(self.problem)
        assert self.process is not None and self.files, "the HTML check was never started"
        out, err = self.process.communicate(timeout=120)
        try:
            report = json.loads(err or out)
        except json.JSONDecodeError:
            pytest.fail(f"The Nu HTML checker did not answer in JSON (exit {self.process.returncode}):\n{err[-2000:]}")
        errors = [
            f"{Path(m.get('url', '?')).name}:{m.get('lastLine', '?')}:{m.get('firstColumn', '?')}: {m['message']}"
            f"  [{m.get('extract', '').strip()}]"
            for m in report["messages"]
            if m["type"] in ("error", "non-document-error")
        ]
        if self.process.returncode != 0 and not errors:
            pytest.fail(f"The Nu HTML checker failed (exit {self.process.returncode}) without naming an error:\n{err[-2000:]}")
        return errors

    def stop(self) -> None:
        """Ends the checker and closes its pipes, whether or not a test read its answer (a
        run that selects no HTML check would otherwise leave them to the garbage collector,
        and pytest then fails whichever test was running with a ResourceWarning)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        self.process.wait()
