#!/usr/bin/python3
"""Build the English -> German parallel text of the translation demo
(demo_translate.sql) from this machine's gettext message catalogs.

Source: every /usr/share/locale/de/LC_MESSAGES/*.mo, the compiled GNU
gettext catalogs installed by Debian packages (git, PostgreSQL 15, GTK,
coreutils, glibc, gnupg, the iso-codes names, ...).  Each entry maps an
English msgid to its German msgstr.  The .mo format is parsed here
(standard library only):

    u32 magic 0x950412de (byte order of the file), u32 revision,
    u32 N, u32 offset of the msgid table, u32 offset of the msgstr table,
    ... ; each table holds N (u32 length, u32 offset) pairs.

Cleaning, in this order (main() prints how many pairs each step keeps):

 1. the header entry (empty msgid) is skipped; a context ("ctx\\x04msgid")
    is dropped from the msgid; a plural entry ("one\\0many") gives its
    singular msgid and its first msgstr form;
 2. an entry with an empty msgstr (untranslated) is dropped;
 3. leading and trailing whitespace is stripped; a pair with a newline or
    tab left inside either side is dropped (help texts laid out in columns);
 4. accelerator markers: when msgid and msgstr each hold exactly one "_"
    followed by a letter or digit, and the msgid's word with it does not
    occur in the msgstr (an identifier such as load_cache_entries is copied
    into the translation, a mnemonic such as _Open is not), the "_" is
    removed from both sides; "&" is left alone (these catalogs use it for
    "and" and in entities, not as a marker);
 5. runs of spaces become one space;
 6. a pair whose msgstr equals its msgid (not translated) is dropped;
 7. a source of 1 .. MAX_WORDS words (split on spaces) is kept;
 8. dedupe by source: a source translated differently by several catalogs
    keeps its most frequent translation (ties: the smallest string).

Split: a pair goes to test when the first 8 bytes of sha256(source), as an
integer, modulo 1000 are below TEST_PERMILLE, to validation below
TEST_PERMILLE + VALID_PERMILLE, else to train: it depends on the source
text alone.

Writes, next to this file, translate_{train,valid,test}.tsv: "id TAB
source TAB target" lines, no header, ids 1.. in (hash, source) order
within each split.  No field holds a tab or newline (step 3); the files
are read by Python's split("\\t") and by PostgreSQL's COPY ... WITH (FORMAT
csv, DELIMITER E'\\t', QUOTE E'\\x01'): no quoting, a backslash is text.

    /usr/bin/python3 test/data/prepare_translation.py

train_translators.py imports load() to read the splits.
"""

import collections
import glob
import hashlib
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LOCALE_GLOB = "/usr/share/locale/de/LC_MESSAGES/*.mo"
MAX_WORDS = 20
TEST_PERMILLE = 20
VALID_PERMILLE = 20
SPLITS = ("train", "valid", "test")


def read_mo(path):
    """[(msgid, msgstr)] raw byte strings of one .mo file, and its charset."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0x950412de:
        end = "<"
    elif magic == 0xde120495:
        end = ">"
    else:
        raise ValueError("%s: not a .mo file" % path)
    _, n, o_orig, o_trans = struct.unpack(end + "4I", data[4:20])

    def entry(table, i):
        length, off = struct.unpack(end + "2I", data[table + 8 * i: table + 8 * i + 8])
        return data[off: off + length]

    raw = [(entry(o_orig, i), entry(o_trans, i)) for i in range(n)]
    charset = "utf-8"
    for mid, mstr in raw:
        if mid == b"":
            m = re.search(rb"charset=([A-Za-z0-9_.:-]+)", mstr)
            if m:
                charset = m.group(1).decode("ascii")
    try:
        "".encode(charset)
    except LookupError:
        charset = "utf-8"
    return raw, charset


MNEMONIC = re.compile(r"_(?=[^\W_])")


def strip_mnemonic(src, tgt):
    if src.count("_") != 1 or tgt.count("_") != 1:
        return src, tgt
    if not MNEMONIC.search(src) or not MNEMONIC.search(tgt):
        return src, tgt
    word = next(w for w in src.split(" ") if "_" in w)
    if word in tgt:
        return src, tgt
    return src.replace("_", ""), tgt.replace("_", "")


def src_hash(text):
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def split_of(text):
    r = src_hash(text) % 1000
    if r < TEST_PERMILLE:
        return "test"
    if r < TEST_PERMILLE + VALID_PERMILLE:
        return "valid"
    return "train"


def collect():
    """(pairs, counts): the cleaned, deduplicated (source, target) pairs and
    [(step, pairs kept)]."""
    counts = collections.OrderedDict()
    step = collections.Counter()
    kept = []
    files = sorted(glob.glob(LOCALE_GLOB))
    for path in files:
        raw, charset = read_mo(path)
        for mid, mstr in raw:
            step["entries"] += 1
            if mid == b"":
                continue
            step["1 header skipped"] += 1
            if b"\x04" in mid:
                step["  (with a context)"] += 1
                mid = mid.split(b"\x04", 1)[1]
            if b"\x00" in mid:
                step["  (plural entries)"] += 1
                mid = mid.split(b"\x00", 1)[0]
            mstr = mstr.split(b"\x00", 1)[0]
            try:
                src, tgt = mid.decode(charset), mstr.decode(charset)
            except UnicodeDecodeError:
                continue
            step["  decoded"] += 1
            if tgt == "":
                continue
            step["2 msgstr not empty"] += 1
            src, tgt = src.strip(), tgt.strip()
            if src == "" or tgt == "" or any(c in s for s in (src, tgt) for c in "\n\t\r"):
                continue
            step["3 no newline/tab inside"] += 1
            s2, t2 = strip_mnemonic(src, tgt)
            if s2 != src:
                step["  (mnemonic _ removed)"] += 1
            src, tgt = re.sub(" +", " ", s2), re.sub(" +", " ", t2)
            if src == tgt:
                continue
            step["6 msgstr differs from msgid"] += 1
            if not 1 <= len(src.split(" ")) <= MAX_WORDS:
                continue
            step["7 source 1..%d words" % MAX_WORDS] += 1
            kept.append((src, tgt))
    by_src = collections.defaultdict(collections.Counter)
    for s, t in kept:
        by_src[s][t] += 1
    pairs = []
    for s in by_src:
        c = by_src[s]
        best = min(c, key=lambda t: (-c[t], t))
        pairs.append((s, best))
    counts["catalogs"] = len(files)
    for k in ("entries", "1 header skipped", "  (with a context)", "  (plural entries)",
              "  decoded", "2 msgstr not empty", "3 no newline/tab inside",
              "  (mnemonic _ removed)", "6 msgstr differs from msgid",
              "7 source 1..%d words" % MAX_WORDS):
        counts[k] = step[k]
    counts["8 dedupe by source"] = len(pairs)
    return pairs, counts


def split(pairs):
    out = {k: [] for k in SPLITS}
    for s, t in sorted(pairs, key=lambda p: (src_hash(p[0]), p[0])):
        out[split_of(s)].append((s, t))
    return out


def path_of(name):
    return os.path.join(HERE, "translate_%s.tsv" % name)


def write_tsv(rows, path):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i, (s, t) in enumerate(rows, 1):
            assert "\x01" not in s + t     # the demo's COPY quote character
            f.write("%d\t%s\t%s\n" % (i, s, t))


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            i, s, t = line.rstrip("\n").split("\t")
            rows.append((int(i), s, t))
    return rows


def load(names=SPLITS):
    """{split: [(id, source, target)]}: the committed files where they are,
    else (the training split is not committed) rebuilt from the catalogs."""
    out, rebuilt = {}, None
    for name in names:
        if os.path.exists(path_of(name)):
            out[name] = read_tsv(path_of(name))
        else:
            if rebuilt is None:
                rebuilt = split(collect()[0])
            out[name] = [(i, s, t) for i, (s, t) in enumerate(rebuilt[name], 1)]
    return out


def fingerprint(rows):
    h = hashlib.sha256()
    for s, t in rows:
        h.update(("%s\t%s\n" % (s, t)).encode("utf-8"))
    return h.hexdigest()[:16]


def main():
    pairs, counts = collect()
    for k, v in counts.items():
        print("%-32s %7d" % (k, v))
    parts = split(pairs)
    print("fingerprint %s" % fingerprint(sorted(pairs)))
    write = [a for a in sys.argv[1:]] or list(SPLITS)
    for name in SPLITS:
        rows = parts[name]
        words = [len(s.split(" ")) for s, _ in rows]
        buckets = collections.Counter(min((w - 1) // 5, 3) for w in words)
        line = "%-5s %6d pairs; source words 1-5 %d, 6-10 %d, 11-15 %d, 16-%d %d" % (
            name, len(rows), buckets[0], buckets[1], buckets[2], MAX_WORDS, buckets[3])
        if name in write:
            write_tsv(rows, path_of(name))
            line += "; wrote %s (%d bytes)" % (os.path.basename(path_of(name)),
                                              os.path.getsize(path_of(name)))
        print(line)


if __name__ == "__main__":
    sys.exit(main())
