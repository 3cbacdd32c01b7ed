#!/usr/bin/env python3
"""Event-level figures of the RCF peer's output (scripts/peer-rcf.sh), to check the harness.

    python3 scripts/peer-rcf-check.py DATA_DIR OUT_DIR [--sweep]

For every labelled CSV under DATA_DIR it reads OUT_DIR/<rel path without .gz> (columns
timestamp,score,grade), checks it has one row per input row, and reports, pooled over all
series and per family (the file's directory), at RCF's default alert (grade > 0):

- alert episodes: runs of consecutive rows with grade above the threshold; an episode is false
  when its first row is outside a labelled segment (a maximal run of label-1 rows);
- false episodes per 10,000 normal (label-0) rows;
- segments caught: one of the segment's first 7 rows (3 when the series' bucket span, the most
  common gap between distinct timestamps, is 5 minutes or more) alerts;
- event precision = caught / (caught + false episodes); event recall = caught / segments;
  event F1 from the two;
- for reference, the pooled point-adjusted F1 at the same threshold (tidewatch evaluate's
  protocol: a caught segment counts all its rows as true positives, a missed one all as misses,
  every label-0 row above the threshold is a false positive).

With --sweep it also reports the best event F1 over thresholds on grade.
"""
import bisect
import csv
import gzip
import io
import os
import sys
from collections import Counter


def read_labels(path):
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        text = f.read().decode("utf-8")
    lines = text.split("\n")
    header = next(csv.reader([lines[0].lstrip("\ufeff")]))
    names = [h.strip().lower() for h in header]
    if "label" not in names:
        return None
    li = names.index("label")
    labels = []
    for line in lines[1:]:
        if not line.strip():
            continue
        row = next(csv.reader([line]))
        try:
            labels.append(li < len(row) and float(row[li].strip()) > 0)
        except ValueError:
            labels.append(False)
    return labels


def read_output(path):
    ts, grades = [], []
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header == ["timestamp", "score", "grade"], f"{path}: header {header}"
        for row in r:
            ts.append(float(row[0]))
            grades.append(float(row[2]))
    return ts, grades


def span_seconds(ts):
    distinct = sorted(set(ts))
    gaps = Counter(b - a for a, b in zip(distinct, distinct[1:]) if b > a)
    if not gaps:
        return 60
    best = max(gaps.items(), key=lambda kv: (kv[1], -kv[0]))[0]
    return max(round(best), 1)


def prepare(labels, grades, delay):
    """Per series: segments (their best early grade), and the episode structure."""
    segments = []
    i, n = 0, len(labels)
    while i < n:
        if labels[i]:
            s = i
            while i < n and labels[i]:
                i += 1
            segments.append((max(grades[s:min(i, s + delay)]), i - s))
        else:
            i += 1
    return segments


def figures(series, threshold):
    caught = segs = false_eps = eps = normal = tp = fn = fp = 0
    for labels, grades, segments in series:
        segs += len(segments)
        caught += sum(1 for g, _ in segments if g > threshold)
        tp += sum(n for g, n in segments if g > threshold)
        fn += sum(n for g, n in segments if g <= threshold)
        normal += sum(1 for l in labels if not l)
        fp += sum(1 for l, g in zip(labels, grades) if not l and g > threshold)
        prev = False
        for l, g in zip(labels, grades):
            a = g > threshold
            if a and not prev:
                eps += 1
                if not l:
                    false_eps += 1
            prev = a
    p = caught / (caught + false_eps) if caught + false_eps else 1.0
    r = caught / segs if segs else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "episodes": eps,
        "false_episodes": false_eps,
        "false_per_10k_normal": 1e4 * false_eps / normal if normal else 0.0,
        "segments": segs,
        "caught": caught,
        "recall": r,
        "precision": p,
        "f1": f1,
        "rows": sum(len(s[0]) for s in series),
        "pa_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
    }


def pa_best_per_series(labels, grades, segments):
    """Best point-adjusted F1 of one series over thresholds (alert at grade >= threshold),
    exactly: it can only peak at some segment's best early grade."""
    normal = sorted(g for l, g in zip(labels, grades) if not l)
    best = 0.0
    for t in {g for g, _ in segments if g > 0}:
        tp = sum(n for g, n in segments if g >= t)
        fn = sum(n for g, n in segments if g < t)
        fp = len(normal) - bisect.bisect_left(normal, t)
        best = max(best, 2 * tp / (2 * tp + fp + fn))
    return best


def line(name, f):
    return (f"{name:<32} rows {f['rows']:>8}  episodes {f['episodes']:>5}  false {f['false_episodes']:>5}"
            f"  false/10k {f['false_per_10k_normal']:6.2f}  caught {f['caught']:>4}/{f['segments']:<4}"
            f" ({f['recall']:.3f})  precision {f['precision']:.3f}  F1 {f['f1']:.3f}"
            f"  | point-adjusted F1 {f['pa_f1']:.3f}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sweep = "--sweep" in sys.argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    data, out = args
    families = {}
    bad = 0
    for root, _, files in os.walk(data):
        for name in sorted(files):
            low = name.lower()
            if not (low.endswith(".csv") or low.endswith(".csv.gz")):
                continue
            path = os.path.join(root, name)
            labels = read_labels(path)
            if labels is None:
                continue
            rel = os.path.relpath(path, data)
            outp = os.path.join(out, rel[:-3] if low.endswith(".gz") else rel)
            ts, grades = read_output(outp)
            if len(ts) != len(labels):
                print(f"MISMATCH {rel}: {len(labels)} input rows, {len(ts)} output rows")
                bad += 1
                continue
            delay = 7 if span_seconds(ts) < 300 else 3
            fam = os.path.dirname(rel) or "."
            families.setdefault(fam, []).append((labels, grades, prepare(labels, grades, delay)))
    everything = [s for v in families.values() for s in v]
    print(f"row counts: {len(everything)} files match their input" + (f", {bad} DO NOT" if bad else ""))
    print(line("all (grade > 0)", figures(everything, 0.0)))
    if len(families) > 1:
        for fam in sorted(families):
            print(line(f"  {fam}", figures(families[fam], 0.0)))
    if sweep:
        grid = sorted({0.0} | {round(x / 20, 2) for x in range(1, 20)})
        best = max(((figures(everything, t)["f1"], t) for t in grid))
        print(f"best event F1 over grade thresholds {grid[0]}..{grid[-1]}: {best[0]:.3f} at grade > {best[1]}")
        pa = max(((figures(everything, t)["pa_f1"], t) for t in grid))
        print(f"best pooled point-adjusted F1 over the same thresholds: {pa[0]:.3f} at grade > {pa[1]}")
        per = [pa_best_per_series(*s) for s in everything if s[2]]
        print(f"mean per-series best point-adjusted F1 ({len(per)} series with segments): {sum(per) / len(per):.3f}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
