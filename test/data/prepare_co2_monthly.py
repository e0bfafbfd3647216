#!/usr/bin/python3
"""Build co2_monthly.csv from the Mauna Loa weekly CO2 data shipped by
Debian's python3-statsmodels (statsmodels/datasets/co2/co2.csv).

Weekly values (YYYYMMDD,ppm; some weeks empty) are averaged per calendar
month over the weeks that have a value; months with no value at all are
filled by linear interpolation between the neighbouring months.  Output:
``month,ppm`` with the month's first day as an ISO date and ppm rounded to
3 decimals.  Deterministic; standard library only.

    /usr/bin/python3 test/data/prepare_co2_monthly.py [path/to/co2.csv]
"""

import csv
import os
import sys

SRC = "/usr/lib/python3/dist-packages/statsmodels/datasets/co2/co2.csv"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "co2_monthly.csv")


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else SRC
    sums = {}                        # (year, month) -> [sum, count]
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            d = row["date"]
            key = (int(d[:4]), int(d[4:6]))
            acc = sums.setdefault(key, [0.0, 0])
            if row["co2"].strip():
                acc[0] += float(row["co2"])
                acc[1] += 1
    first, last = min(sums), max(sums)
    months = []
    y, m = first
    while (y, m) <= last:
        months.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    vals = [sums[k][0] / sums[k][1] if k in sums and sums[k][1] else None
            for k in months]
    filled = [i for i, v in enumerate(vals) if v is None]
    out = list(vals)
    for i in filled:
        lo = max(j for j in range(i) if vals[j] is not None)
        hi = min(j for j in range(i + 1, len(vals)) if vals[j] is not None)
        out[i] = vals[lo] + (vals[hi] - vals[lo]) * (i - lo) / (hi - lo)
    with open(OUT, "w", newline="") as f:
        f.write("month,ppm\n")
        for (y, m), v in zip(months, out):
            f.write("%04d-%02d-01,%.3f\n" % (y, m, v))
    print("%s: %d months, %04d-%02d to %04d-%02d; interpolated: %s"
          % (OUT, len(months), first[0], first[1], last[0], last[1],
             ", ".join("%04d-%02d" % months[i] for i in filled) or "none"))


if __name__ == "__main__":
    main()
