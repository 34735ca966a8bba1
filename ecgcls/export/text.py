"""Interpretation text for an exported record: a template over its PTB-XL statements and its measurements, and
an optional rewrite by a language model behind any OpenAI-compatible endpoint (off by default, never needed).
"""
from __future__ import annotations

import math
import os


def _v(g: dict, key: str, fmt: str = "{:.0f}", unit: str = " ms") -> str:
    v = g.get(key)
    if v is None or not math.isfinite(float(v)):
        return "not measurable"
    return fmt.format(float(v)) + unit


def interpretation(scp_codes: dict, statements: dict, measurements: dict | None = None) -> str:
    """A short report: the statements (description, code, likelihood %) grouped as rhythm / diagnosis / form, then
    the machine-style measurements (rate, PR, QRS, QT/QTc, axis) where they could be measured.

    ``statements``: code → {"description", "rhythm", "diagnostic", "form", "diagnostic_class"} (PTB-XL's
    ``scp_statements.csv`` rows); ``measurements``: :func:`ecgcls.measure.measure`'s output (or None)."""
    groups: dict[str, list[str]] = {"Rhythm": [], "Diagnosis": [], "Form": [], "Other": []}
    for code, lik in sorted(scp_codes.items(), key=lambda kv: -float(kv[1] or 0)):
        st = statements.get(code, {})
        desc = str(st.get("description") or code)
        lik_txt = f", {float(lik):.0f}%" if lik not in (None, "") and float(lik) > 0 else ""
        item = f"{desc} ({code}{lik_txt})"
        kind = ("Rhythm" if st.get("rhythm") == 1 else "Diagnosis" if st.get("diagnostic") == 1
                else "Form" if st.get("form") == 1 else "Other")
        groups[kind].append(item)
    lines = [f"{k}: {'; '.join(v)}." for k, v in groups.items() if v]
    classes = sorted({str(statements[c]["diagnostic_class"]) for c in scp_codes
                      if c in statements and isinstance(statements[c].get("diagnostic_class"), str)})
    if classes:
        lines.append(f"Diagnostic superclasses: {', '.join(classes)}.")
    if measurements:
        g = measurements.get("global", {})
        lines.append(f"Measurements: heart rate {_v(g, 'hr_bpm', unit=' bpm')}, PR {_v(g, 'pr_ms')}, "
                     f"QRS {_v(g, 'qrs_ms')}, QT {_v(g, 'qt_ms')}, QTc (Bazett) {_v(g, 'qtc_bazett_ms')}, "
                     f"QRS axis {_v(g, 'qrs_axis_deg', unit='°')}.")
    return "\n".join(lines) if lines else "No statements."


def rewrite(text: str, endpoint: str, model: str, api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 60.0) -> str:
    """The template text rewritten as a fluent report by a chat model at an OpenAI-compatible ``endpoint``
    (``.../v1``); the key, if any, from the environment variable ``api_key_env``. Raises on any failure (the
    caller keeps the template text)."""
    import httpx

    key = os.environ.get(api_key_env, "")
    r = httpx.post(endpoint.rstrip("/") + "/chat/completions", timeout=timeout_s,
                   headers={"Authorization": f"Bearer {key}"} if key else {},
                   json={"model": model, "temperature": 0,
                         "messages": [{"role": "system", "content": "Rewrite the ECG findings as a short clinical "
                                       "ECG report. Do not add findings; keep every number."},
                                      {"role": "user", "content": text}]})
    r.raise_for_status()
    return str(r.json()["choices"][0]["message"]["content"]).strip()
