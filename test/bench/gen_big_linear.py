#!/usr/bin/python3
"""Write a large Linear model as safetensors, for the big-import benchmark.

    /usr/bin/python3 test/bench/gen_big_linear.py --out-path /tmp/big.safetensors
    /usr/bin/python3 test/bench/gen_big_linear.py --in 1024 --out 4096 \\
        --out-path /tmp/small.safetensors --seed 7

Keys are those of torch.nn.Linear(in, out).state_dict(): "weight" [out, in]
and "bias" [out], both F32, with __metadata__ {"format": "pt"}.  The defaults
(in 8192, out 16384) give 512 MiB of weights.  Values are numpy normal * 0.01
(float32) from a seeded generator, so a given --seed always gives the same
file.  The weight is generated and written in row blocks (about 64 MiB each),
so memory use stays bounded whatever the size.  The file is written to
P + ".tmp" and renamed into place.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fixtures"))
from sm_safetensors import encode_header, layout  # noqa: E402

BLOCK_BYTES = 64 << 20
F32_LE = np.dtype("<f4")


def positive(s):
    v = int(s)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--in", dest="in_features", type=positive, default=8192,
                    help="in_features (default 8192)")
    ap.add_argument("--out", dest="out_features", type=positive,
                    default=16384, help="out_features (default 16384)")
    ap.add_argument("--out-path", required=True, help="file to write")
    ap.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    args = ap.parse_args(argv)
    n_in, n_out = args.in_features, args.out_features

    # Data order: weight then bias.
    header, data_len = layout([("weight", "F32", [n_out, n_in]),
                               ("bias", "F32", [n_out])],
                              metadata={"format": "pt"})
    prefix = encode_header(header)

    rng = np.random.default_rng(args.seed)
    rows = max(1, BLOCK_BYTES // (4 * n_in))
    t0 = time.monotonic()
    tmp = args.out_path + ".tmp"
    written = 0
    try:
        with open(tmp, "wb") as f:
            f.write(prefix)
            for r in range(0, n_out, rows):
                blk = rng.standard_normal((min(rows, n_out - r), n_in),
                                          dtype=np.float32)
                blk *= np.float32(0.01)
                blk = blk.astype(F32_LE, copy=False)
                f.write(memoryview(blk).cast("B"))
                written += blk.nbytes
            bias = rng.standard_normal(n_out, dtype=np.float32)
            bias *= np.float32(0.01)
            bias = bias.astype(F32_LE, copy=False)
            f.write(memoryview(bias).cast("B"))
            written += bias.nbytes
        assert written == data_len, (written, data_len)
        os.replace(tmp, args.out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    size = os.path.getsize(args.out_path)
    assert size == len(prefix) + data_len
    print("%s: %d bytes (%.1f MiB), weight [%d, %d] + bias [%d] F32, "
          "seed %d, %.1f s" % (args.out_path, size, size / 2**20, n_out,
                               n_in, n_out, args.seed,
                               time.monotonic() - t0))


if __name__ == "__main__":
    main()
