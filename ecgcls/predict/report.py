"""Per-picture evidence reports: a JSON and a self-contained HTML page (opens offline, no scripts).

Each report holds the digitized page with its traces drawn on it, the measurements (:func:`ecgcls.measure.measure`
on the digitized leads at the digitizer's rate), and for every class its probability, whether it was given as a
label, and each evidence criterion of ``ecgcls/measure/rules.yaml`` as met / not met / not measurable, with its
source. :func:`explain_page` draws where each shown class came from (:mod:`ecgcls.predict.explain`): the measured
fiducials on the traced page, integrated-gradients windows of the signal model mapped onto the printed leads, and
the picture model's Grad-CAM; the report embeds them (JPEG, so it stays one file).
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from ecgcls.jsonsafe import json_safe

#: global measurements shown in the report, with their units
SHOWN = [("hr_bpm", "heart rate", "bpm"), ("rr_irregularity", "RR irregularity", ""), ("p_ms", "P duration", "ms"),
         ("pr_ms", "PR", "ms"), ("qrs_ms", "QRS", "ms"), ("qt_ms", "QT", "ms"), ("qtc_bazett_ms", "QTc Bazett", "ms"),
         ("qtc_fridericia_ms", "QTc Fridericia", "ms"), ("p_axis_deg", "P axis", "°"),
         ("qrs_axis_deg", "QRS axis", "°"), ("t_axis_deg", "T axis", "°"), ("sokolow_lyon_mv", "Sokolow-Lyon", "mV"),
         ("cornell_mv", "Cornell", "mV")]


def _top_windows(attr: np.ndarray, fs: float, window: int, n: int = 6) -> list[dict]:
    """The ``n`` lead windows that pushed the class up most: lead, start/end (s), share of all positive evidence."""
    from ecgcls.predict.explain import per_patch
    from ecgcls.types import LEADS

    w = per_patch(np.clip(attr, 0, None), window)
    total = float(w.sum())
    if total <= 0:
        return []
    idx = np.argsort(w, axis=None)[::-1][:n]
    return [{"lead": LEADS[i], "t0": round(j * window / fs, 3), "t1": round((j + 1) * window / fs, 3),
             "share": round(float(w[i, j]) / total, 3)} for i, j in zip(*np.unravel_index(idx, w.shape)) if w[i, j] > 0]


def explain_page(out_dir: str | Path, stem: str, r, shown: list[str], nets: dict, overlay_png: Path) -> dict:
    """Attribution pictures for the classes ``shown`` of one page (``r``: its PageResult) into ``out_dir``.

    ``nets``: ``signal`` / ``picture`` / ``rhythm`` bundles that answered for this page (None otherwise). Writes
    ``<stem>_fiducials.jpg`` (traces + measured fiducials), and per class ``<stem>_signal_<cls>.jpg`` (integrated
    gradients on the printed leads) and ``<stem>_picture_<cls>.jpg`` (Grad-CAM); returns what was drawn, with each
    signal map's strongest windows, for the JSON."""
    import cv2

    from ecgcls.predict import explain

    out_dir = Path(out_dir)
    extra = r.extra or {}
    fid = (extra.get("measurements") or {}).get("fiducials")
    base = cv2.imread(str(overlay_png)) if extra.get("placement") and Path(overlay_png).is_file() else None
    res: dict = {"method": {"signal": "integrated gradients (Captum), flat-line baseline, 32 steps",
                            "picture": "Grad-CAM (Captum) on each member's last spatial convolution, averaged"},
                 "classes": {}}
    if base is not None:
        img = explain.draw_signal_evidence(base, extra["overlay_scale"], extra["placement"], fid,
                                           title="fiducials: P on/off blue, QRS on/off red, T end green")
        cv2.imwrite(str(out_dir / f"{stem}_fiducials.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        res["fiducials"] = f"{stem}_fiducials.jpg"
    for cls in shown:
        got: dict = {}
        sig_net = next((n for n in (nets.get("rhythm"), nets.get("signal")) if n is not None and cls in n.classes), None)
        if sig_net is not None and base is not None and r.signal is not None:
            attr = explain.integrated_gradients(sig_net, r.signal, [sig_net.classes.index(cls)])[0]
            win = explain.patch_len_of(sig_net, sig_net.fs)
            img = explain.draw_signal_evidence(base, extra["overlay_scale"], extra["placement"], fid, attr,
                                               sig_net.fs, win, title=f"{cls}: where {sig_net.name} found it (red)")
            name = f"{stem}_signal_{cls}.jpg"
            cv2.imwrite(str(out_dir / name), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
            got["signal"] = {"file": name, "model": sig_net.name, "top_windows": _top_windows(attr, sig_net.fs, win)}
        pic = nets.get("picture")
        if pic is not None and cls in pic.classes and r.picture is not None:
            cam = explain.gradcam(pic, pic.picture_tensor(r.picture), pic.classes.index(cls))
            name = f"{stem}_picture_{cls}.jpg"
            cv2.imwrite(str(out_dir / name), explain.draw_gradcam(r.picture, cam), [cv2.IMWRITE_JPEG_QUALITY, 85])
            got["picture"] = {"file": name, "model": pic.name}
        res["classes"][cls] = got
    return res


def _embed(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    mime = "image/jpeg" if path.suffix == ".jpg" else "image/png"
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}">'


def write_report(out_dir: str | Path, stem: str, content: dict, overlay_png: Path | None = None) -> Path:
    """Write ``<stem>.json`` and ``<stem>.html`` into ``out_dir``; returns the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    content = json_safe(content)
    (out_dir / f"{stem}.json").write_text(json.dumps(content, indent=1))
    path = out_dir / f"{stem}.html"
    path.write_text(render_html(content, overlay_png, out_dir))
    return path


def _fmt(v, unit: str = "") -> str:
    if v is None:
        return "<span class=na>not measurable</span>"
    return f"{v:.2f}" if unit == "" else f"{v:.0f} {html.escape(unit)}" if unit != "mV" else f"{v:.2f} mV"


def _q(v) -> str:
    return "not read" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def render_html(c: dict, overlay_png: Path | None = None, out_dir: Path | None = None) -> str:
    e = html.escape
    att = c.get("attribution") or {}
    d = Path(out_dir) if out_dir is not None else Path(".")
    img = ""
    if att.get("fiducials"):
        img = _embed(d / att["fiducials"], "digitized page with the traces read and the measured fiducials")
    elif overlay_png is not None:
        img = _embed(Path(overlay_png), "digitized page with the traces read")
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
        where = ""
        for kind, what in (("signal", "where the signal model found it (red shading over the printed leads)"),
                           ("picture", "where the picture model looked (Grad-CAM, on the picture as it saw it)")):
            a = (att.get("classes") or {}).get(cls, {}).get(kind)
            if a:
                tops = ", ".join(f'{w["lead"]} {w["t0"]:.1f}–{w["t1"]:.1f} s' for w in a.get("top_windows", [])[:3])
                where += (f'<figure><figcaption>{e(what)} — {e(a["model"])}'
                          f'{": strongest " + e(tops) if tops else ""}</figcaption>{_embed(d / a["file"], what)}</figure>')
        p_txt = "—" if p is None else f"{p:.2f}"
        given = "label given" if cls in labels else "not given"
        cls_html.append(f'<div class="cls {"on" if cls in labels else "off"}"><h3>{e(cls)} '
                        f'<small>p = {p_txt}, {given}</small></h3>{crit}{where}</div>')
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>ecgcls report — {e(c.get("path", ""))}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}}img{{max-width:100%;border:1px solid #ccc}}
table{{border-collapse:collapse}}td{{border-bottom:1px solid #ddd;padding:2px 10px}}.na{{color:#999}}
.cls{{border-left:4px solid #ccc;padding-left:.6em;margin:.6em 0}}.cls.on{{border-color:#c33}}
figure{{margin:.5em 0}}figcaption{{font-size:90%;color:#333}}li.met b{{color:#070}}li.not-met b{{color:#a00}}li.not-measurable b{{color:#888}}</style></head><body>
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
