"""Per-picture evidence reports: a JSON and a self-contained HTML page (opens offline, no scripts).

Each report holds the digitized page with its traces drawn on it, the measurements (:func:`ecgcls.measure.measure`
on the digitized leads at the digitizer's rate), and for every class its probability, whether it was given as a
label, and each evidence criterion of ``ecgcls/measure/rules.yaml`` as met / not met / not measurable, with its
source. Attribution maps (which part of the page drove a class) are not drawn yet.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ecgcls.jsonsafe import json_safe

#: global measurements shown in the report, with their units
SHOWN = [("hr_bpm", "heart rate", "bpm"), ("rr_irregularity", "RR irregularity", ""), ("p_ms", "P duration", "ms"),
         ("pr_ms", "PR", "ms"), ("qrs_ms", "QRS", "ms"), ("qt_ms", "QT", "ms"), ("qtc_bazett_ms", "QTc Bazett", "ms"),
         ("qtc_fridericia_ms", "QTc Fridericia", "ms"), ("p_axis_deg", "P axis", "°"),
         ("qrs_axis_deg", "QRS axis", "°"), ("t_axis_deg", "T axis", "°"), ("sokolow_lyon_mv", "Sokolow-Lyon", "mV"),
         ("cornell_mv", "Cornell", "mV")]


def write_report(out_dir: str | Path, stem: str, content: dict, overlay_png: Path | None = None) -> Path:
    """Write ``<stem>.json`` and ``<stem>.html`` into ``out_dir``; returns the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    content = json_safe(content)
    (out_dir / f"{stem}.json").write_text(json.dumps(content, indent=1))
    path = out_dir / f"{stem}.html"
    path.write_text(render_html(content, overlay_png))
    return path


def _fmt(v, unit: str = "") -> str:
    if v is None:
        return "<span class=na>not measurable</span>"
    return f"{v:.2f}" if unit == "" else f"{v:.0f} {html.escape(unit)}" if unit != "mV" else f"{v:.2f} mV"


def _q(v) -> str:
    return "not read" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def render_html(c: dict, overlay_png: Path | None = None) -> str:
    e = html.escape
    img = ""
    if overlay_png is not None and Path(overlay_png).is_file():
        b64 = base64.b64encode(Path(overlay_png).read_bytes()).decode()
        img = f'<img alt="digitized page with the traces read" src="data:image/png;base64,{b64}">'
    g = (c.get("measurements") or {}).get("global", {})
    rows = "".join(f"<tr><td>{e(name)}</td><td>{_fmt(g.get(k), unit)}</td></tr>" for k, name, unit in SHOWN)
    labels = set(c.get("labels", []))
    cls_html = []
    for cls, p in (c.get("probs") or {}).items():
        ev = (c.get("evidence") or {}).get(cls)
        crit = ""
        if ev:
            crit = "<ul>" + "".join(
                f'<li class="{e(x["status"].replace(" ", "-"))}"><b>{e(x["status"])}</b>: {e(x["text"])}'
                f'{" — measured " + e(str(x["value"])) if x.get("value") not in (None, []) else ""}'
                f'<br><small>{e(x["source"])}</small></li>' for x in ev["criteria"]) + "</ul>"
        p_txt = "—" if p is None else f"{p:.2f}"
        given = "label given" if cls in labels else "not given"
        cls_html.append(f'<div class="cls {"on" if cls in labels else "off"}"><h3>{e(cls)} '
                        f'<small>p = {p_txt}, {given}</small></h3>{crit}</div>')
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>ecgcls report — {e(c.get("path", ""))}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}}img{{max-width:100%;border:1px solid #ccc}}
table{{border-collapse:collapse}}td{{border-bottom:1px solid #ddd;padding:2px 10px}}.na{{color:#999}}
.cls{{border-left:4px solid #ccc;padding-left:.6em;margin:.6em 0}}.cls.on{{border-color:#c33}}
li.met b{{color:#070}}li.not-met b{{color:#a00}}li.not-measurable b{{color:#888}}</style></head><body>
<h1>ECG picture report</h1>
<p><b>{e(c.get("path", ""))}</b> — status <b>{e(c.get("status", ""))}</b> {e(c.get("reason", "") or "")}<br>
layout {e(str(c.get("layout", "")))}, reading quality {e(_q(c.get("quality")))}, paths {e(str(c.get("paths", "")))}</p>
{img}
<h2>Measurements (digitized leads; median beat, global = median over leads)</h2><table>{rows}</table>
<h2>Classes and their evidence</h2>{"".join(cls_html)}
<p><small>Research software, not a medical device. Criteria are checked on what was read from the picture; a
criterion on leads that were not printed or not read is "not measurable", never assumed.</small></p>
</body></html>
"""
