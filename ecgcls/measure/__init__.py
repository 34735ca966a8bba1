"""Waveform measurements the way ECG machines print them, and the evidence they give for each diagnosis.

- :func:`delineate` — beats and wave boundaries of one lead (NeuroKit2's peak detector and prominence delineator on
  each run of finite samples; NaN parts are skipped, never interpolated).
- :func:`measure` — global and per-lead measurements of a 12-lead record (HR, RR irregularity, P, PR, QRS,
  QT, QTc Bazett/Fridericia, P/QRS/T axes, ST at J+60 ms, Sokolow-Lyon and Cornell voltages, Q waves,
  T inversion).
- :func:`rr_features` — RR-interval features (variation, irregularity, rate) from whichever leads a page printed,
  pooled over its time windows (the rhythm bundle's RR head, :mod:`ecgcls.predict.rhythm`, reads them).
- :func:`evidence` — the criteria of ``rules.yaml`` (a data file, one entry per class with its source) checked
  against those measurements: met, not met or not measurable.
"""
from ecgcls.measure.evidence import evidence, load_rules
from ecgcls.measure.rhythm import rr_features
from ecgcls.measure.waves import LeadWaves, delineate, measure

__all__ = ["LeadWaves", "delineate", "measure", "rr_features", "evidence", "load_rules"]
