"""Systems that answer ECGBench-style tasks: ecgcls's bundled models, and any OpenAI-compatible vision endpoint.

Every answer is a dict per task: ``detect`` → ``{"scores": {class: float}, "labels": [...]}``, ``mcq`` →
``{"choice": "B"}``, ``report`` → the report's fields; a reply that cannot be parsed is ``{"malformed": text}``
and a request that failed after its retries ``{"failed": reason}`` — counted by the scorer, never crashed on.
"""
from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import yaml

from ecgcls.data.ptbxl import SUPERCLASSES
from ecgcls.ecgbench.tasks import LETTERS, Item, axis_category

PROMPTS = Path(__file__).with_name("prompts.yaml")
SYNONYMS = {"normal": "NORM", "myocardial infarction": "MI", "infarction": "MI", "st/t": "STTC", "st-t": "STTC",
            "conduction": "CD", "hypertrophy": "HYP"}


class EcgclsSystem:
    """A bundled ecgcls model set-up (``model``: cnn1d | patchecg | pic2dx | both) with the rhythm bundle and
    measurements: detection from its probabilities and labels; multiple choice by the probability of the class
    each option's statement belongs to (superclass, or AFIB / SR), an option with no such class scoring below
    every mapped one; the report from its measurements, rhythm probabilities and labels."""

    def __init__(self, model: str = "both", statements: dict | None = None) -> None:
        from ecgcls.predict import Predictor

        self.name = f"ecgcls:{model}"
        self.pred = Predictor(model, "rhythm", measure=True)
        self.statements = statements or {}

    def answer(self, item: Item, tasks: list[str]) -> dict:
        rows = self.pred.answer(self.pred.read(item.picture))
        row, rec = rows[0]
        if rec is None:
            return {t: {"failed": f"ecgcls could not read the picture: {row['error']}"} for t in tasks}
        probs = rec["probs"]
        labels = row["labels"].split(";") if row["labels"] else []
        out: dict = {}
        if "detect" in tasks:
            out["detect"] = {"scores": {c: probs.get(c) for c in SUPERCLASSES},
                             "labels": [c for c in labels if c in SUPERCLASSES]}
        if "mcq" in tasks and item.mcq:
            def option_score(code: str) -> float:
                cls = code if code in ("AFIB", "SR") else (self.statements.get(code) or {}).get("diagnostic_class")
                p = probs.get(cls) if isinstance(cls, str) else None
                return -1.0 if p is None else float(p)

            scores = [option_score(c) for c in item.mcq["codes"]]
            out["mcq"] = {"choice": LETTERS[int(np.argmax(scores))], "scores": scores}
        if "report" in tasks:
            g = (rec.get("measurements") or {}).get("global", {})
            rhy = self.pred.rhy_net
            thr = dict(zip(rhy.classes, rhy.thresholds)) if rhy is not None else {}
            rhythm = ("AFIB" if (probs.get("AFIB") or 0) >= thr.get("AFIB", 1) else
                      "SR" if (probs.get("SR") or 0) >= thr.get("SR", 1) else "other")
            out["report"] = {"rhythm": rhythm, "rate_bpm": g.get("hr_bpm"), "axis": axis_category(g.get("qrs_axis_deg")),
                             "pr_ms": g.get("pr_ms"), "qrs_ms": g.get("qrs_ms"), "qt_ms": g.get("qt_ms"),
                             "diagnoses": [c for c in labels if c in SUPERCLASSES]}
        return out


class BudgetExhausted(RuntimeError):
    """The run's request budget is spent."""


class ChatClient:
    """A minimal OpenAI-compatible chat client (``POST {endpoint}/chat/completions``) with one picture per
    question, a timeout, retries with backoff on timeouts / 429 / 5xx, and a request budget shared by the run.
    The key, if any, comes from the environment variable ``api_key_env``."""

    def __init__(self, endpoint: str, model: str, api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 120.0,
                 retries: int = 2, backoff_s: float = 2.0, budget: int = 1000, max_tokens: int = 400) -> None:
        self.endpoint, self.model = endpoint.rstrip("/"), model
        self.key = os.environ.get(api_key_env, "")
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.budget, self.used, self.max_tokens = int(budget), 0, max_tokens

    def ask(self, system: str, prompt: str, picture: str | Path) -> str:
        import httpx

        mime = "image/png" if str(picture).lower().endswith(".png") else "image/jpeg"
        url = f"data:{mime};base64,{base64.b64encode(Path(picture).read_bytes()).decode()}"
        body = {"model": self.model, "temperature": 0, "max_tokens": self.max_tokens,
                "messages": [{"role": "system", "content": system},
                             {"role": "user", "content": [{"type": "text", "text": prompt},
                                                          {"type": "image_url", "image_url": {"url": url}}]}]}
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        last = ""
        for attempt in range(self.retries + 1):
            if self.used >= self.budget:
                raise BudgetExhausted(f"request budget of {self.budget} spent")
            self.used += 1
            try:
                r = httpx.post(self.endpoint + "/chat/completions", json=body, headers=headers, timeout=self.timeout_s)
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout_s:g} s"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if r.status_code == 200:
                    try:
                        return str(r.json()["choices"][0]["message"]["content"])
                    except (ValueError, KeyError, IndexError, TypeError):
                        raise ValueError(f"reply is not a chat completion: {r.text[:200]!r}") from None
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                if r.status_code not in (408, 429) and r.status_code < 500:
                    break  # a client error does not get better by asking again
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2 ** attempt)
        raise RuntimeError(last)


def parse_detect(text: str) -> dict:
    """A JSON list of superclass codes (or names) → {"labels": [...]}; {"malformed": text} when none found."""
    found: list[str] = []
    m = re.search(r"\[.*?\]", text, re.S)
    cand = []
    if m:
        try:
            cand = [str(x) for x in json.loads(m.group(0))]
        except ValueError:
            cand = re.findall(r"[A-Za-z/\- ]+", m.group(0))
    else:
        cand = re.split(r"[,;\n]", text)
    for c in cand:
        c0 = c.strip().strip("\"'").upper()
        if c0 in SUPERCLASSES:
            found.append(c0)
            continue
        low = c.lower()
        found += [v for k, v in SYNONYMS.items() if k in low]
    found = [c for c in SUPERCLASSES if c in found]
    return {"labels": found, "scores": {c: float(c in found) for c in SUPERCLASSES}} if found else {"malformed": text}


def parse_mcq(text: str, k: int) -> dict:
    """The chosen letter (A… within ``k`` options) → {"choice": "B"}; {"malformed": text} otherwise."""
    letters = LETTERS[:k]
    m = (re.search(rf"(?:answer|option)\s*(?:is)?\s*[:\-]?\s*\(?([{letters}])\b", text, re.I)
         or re.match(rf"\s*\(?([{letters}])[\).:\s]*$", text) or re.search(rf"\b([{letters}])\b", text))
    return {"choice": m.group(1).upper()} if m else {"malformed": text}


def parse_report(text: str) -> dict:
    """The first JSON object in the reply → the report's fields; {"malformed": text} otherwise."""
    m = re.search(r"\{.*\}", text, re.S)
    if not m:
        return {"malformed": text}
    try:
        d = json.loads(m.group(0))
    except ValueError:
        return {"malformed": text}
    if not isinstance(d, dict):
        return {"malformed": text}

    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    diag = d.get("diagnoses") or []
    return {"rhythm": str(d.get("rhythm", "")).upper().replace("OTHER", "other") or None,
            "rate_bpm": num(d.get("rate_bpm")), "axis": str(d.get("axis", "")).lower() or None,
            "pr_ms": num(d.get("pr_ms")), "qrs_ms": num(d.get("qrs_ms")), "qt_ms": num(d.get("qt_ms")),
            "diagnoses": [c for c in SUPERCLASSES if c in [str(x).upper() for x in diag]]}


class OpenAISystem:
    """Any OpenAI-compatible vision endpoint, asked each task with the prompts of ``prompts.yaml``."""

    def __init__(self, endpoint: str, model: str, prompts: str | Path = PROMPTS, **client_kw) -> None:
        self.name = f"openai:{model}"
        self.client = ChatClient(endpoint, model, **client_kw)
        self.prompts = yaml.safe_load(Path(prompts).read_text())

    def answer(self, item: Item, tasks: list[str]) -> dict:
        """The item's answers; once the budget is spent the rest are ``failed`` and :class:`BudgetExhausted` is
        raised with what was answered in its ``partial``."""
        out: dict = {}
        for t in tasks:
            if t == "mcq" and not item.mcq:
                continue
            prompt = self.prompts[t]
            if t == "mcq":
                prompt = prompt.format(options="\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(item.mcq["options"])))
            try:
                text = self.client.ask(self.prompts["system"], prompt, item.picture)
            except BudgetExhausted as exc:
                exc.partial = out
                raise
            except Exception as exc:  # noqa: BLE001 — timeouts, HTTP errors, non-chat replies: this answer failed
                out[t] = {"failed": str(exc)[:300]}
                continue
            out[t] = (parse_detect(text) if t == "detect" else parse_mcq(text, len(item.mcq["options"]))
                      if t == "mcq" else parse_report(text))
        return out
