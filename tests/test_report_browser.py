"""The report as a person sees it: headless Chromium renders the page, and a script in the browser
measures it: the charts are there, no two labels of a chart overlap, the drill-down filter works."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# Run in the page after load; writes what it measured into <pre id="layout-check">.
MEASURE = r"""
<script>
window.addEventListener('load', function () {
  var result = {charts: [], overlaps: [], filter: null};
  document.querySelectorAll('figure.chart').forEach(function (figure) {
    var boxes = [];
    figure.querySelectorAll('text').forEach(function (t) {
      var box = t.getBoundingClientRect();
      if (t.textContent.trim() && box.width > 0) boxes.push({text: t.textContent.trim(), box: box});
    });
    result.charts.push({label: figure.getAttribute('aria-label'), texts: boxes.length});
    for (var i = 0; i < boxes.length; i++) for (var j = i + 1; j < boxes.length; j++) {
      var a = boxes[i].box, b = boxes[j].box;
      var w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      var h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) result.overlaps.push([figure.getAttribute('aria-label'), boxes[i].text, boxes[j].text]);
    }
  });
  var box = document.querySelector('input[data-filter="items"]');
  if (box) {
    var rows = document.querySelectorAll('#items tbody tr');
    var first = rows[0].cells[0].textContent;
    box.value = first;
    box.dispatchEvent(new Event('input'));
    var shown = Array.prototype.filter.call(rows, function (r) { return r.style.display !== 'none'; });
    result.filter = {rows: rows.length, shown: shown.length,
                     all_match: shown.every(function (r) { return r.textContent.indexOf(first) >= 0; })};
  }
  var out = document.createElement('pre'); out.id = 'layout-check'; out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>
"""


def chromium() -> str:
    found = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                  if (path := shutil.which(name))), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("headless Chromium is missing: .ci/run installs the Debian package 'chromium'")
        pytest.skip("no headless Chromium here (apt-get install chromium); CI installs it")
    return found


def measure(page: Path, tmp_path: Path) -> dict:
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    done = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                           "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="layout-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not report its layout: {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_the_measure_sees_overlapping_labels(tmp_path):
    """The check can fail: two labels drawn on top of each other are reported."""
    page = tmp_path / "overlap.html"
    page.write_text('<!doctype html><html><body><figure class="chart" aria-label="c"><svg width="200" height="100">'
                    '<text x="10" y="50">w=0 (floors only)</text><text x="14" y="52">w=1</text>'
                    '<text x="10" y="90">apart</text></svg></figure></body></html>')
    result = measure(page, tmp_path)
    assert result["overlaps"] == [["c", "w=0 (floors only)", "w=1"]]


def test_the_report_renders_with_every_chart_and_no_overlapping_labels(spark, published_world, tmp_path):
    """The page of the shared world's last day, rendered from its tables as the report step does
    (into a folder of the test's own: other modules republish that day and own its ledger row)."""
    from jobs.steps import report
    from tests.conftest import PIPELINE_DAYS

    ds = PIPELINE_DAYS[-1]
    page = tmp_path / "report.html"
    page.write_text(report.render(published_world, ds, report.gather(published_world, ds, spark)))
    result = measure(page, tmp_path)
    labels = [chart["label"] for chart in result["charts"]]
    assert {"Lorenz curves", "quotas by creator size", "trade-off curve", "UAC calibration"} <= set(labels)
    assert all(chart["texts"] >= 5 for chart in result["charts"])     # axes, ticks and titles are text
    assert result["overlaps"] == []
    assert result["filter"]["shown"] >= 1 and result["filter"]["all_match"]
    assert result["filter"]["shown"] < result["filter"]["rows"]
