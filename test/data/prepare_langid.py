#!/usr/bin/python3
"""Build the language-identification data of the langid demo (demo_langid.sql).

Source: the GNU gettext message catalogs installed on this machine,
/usr/share/locale/<lang>/LC_MESSAGES/*.mo (translations shipped by Debian
packages: glib, gtk, coreutils, apt, dpkg, PostgreSQL, systemd, ...).  Each
catalog maps English source strings (msgid) to their translation (msgstr);
the msgids give the English texts, the msgstrs the other languages'.

The .mo binary format is parsed here (standard library only):

    u32 magic 0x950412de (byte order of the file), u32 revision,
    u32 N, u32 offset of the msgid table, u32 offset of the msgstr table,
    ... ; each table holds N (u32 length, u32 offset) pairs.

A msgid "ctx\\x04text" carries a context (dropped); plural entries hold
their forms separated by NUL (the first form is taken).  The catalog's
charset comes from its header entry (msgid "").

Cleaning, per string: whitespace runs (newlines, tabs) become one space and
the ends are stripped; format directives (%s, %d, {0}, ...) stay, they are
real text of the catalogs.  Kept when it is at least MIN_CHARS characters
long with at least MIN_LETTERS letters; a translation identical to its
msgid (untranslated) is dropped.  Catalogs of names rather than sentences
(iso_* codes, xkeyboard-config layouts) are skipped.  A text that occurs
under two labels (say Spanish and Portuguese) is dropped from both;
duplicates are kept once.

Split: a text is held out when the first 8 bytes of sha256(text), as an
integer, fall in the lowest HOLDOUT_PERCENT percent; the rest trains.  So
the split depends on the text only, not on which other strings exist.

langid_samples.csv (written next to this file, CSV for PostgreSQL's
COPY ... CSV HEADER): id, lang, text -- SAMPLES_PER_LANG held-out texts of
each language (the ones with the smallest hash), ids 1.. in (lang, hash)
order.

    /usr/bin/python3 test/data/prepare_langid.py     # writes langid_samples.csv

train_langid.py imports load() to regenerate the training data.
"""

import csv
import glob
import hashlib
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LOCALE_DIR = "/usr/share/locale"

# label -> locale directory ("en" is the msgids of the other catalogs)
LANGS = {"de": "de", "en": None, "es": "es", "fr": "fr", "it": "it",
         "ja": "ja", "nl": "nl", "pl": "pl", "pt": "pt_BR", "ru": "ru"}
LABELS = sorted(LANGS)          # label id order: de en es fr it ja nl pl pt ru
SKIP_DOMAINS = re.compile(r"^(iso_|xkeyboard-config)")
MIN_CHARS = 12
MIN_LETTERS = 6
HOLDOUT_PERCENT = 10
SAMPLES_PER_LANG = 30


def read_mo(path):
    """[(msgid, msgstr)] of one .mo file, decoded; context and plural forms
    beyond the first dropped."""
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
    out = []
    for mid, mstr in raw:
        if mid == b"" or mstr == b"":
            continue
        mid = mid.split(b"\x04", 1)[-1].split(b"\x00", 1)[0]
        mstr = mstr.split(b"\x00", 1)[0]
        try:
            out.append((mid.decode(charset), mstr.decode(charset)))
        except UnicodeDecodeError:
            continue
    return out


def clean(s):
    return " ".join(s.split())


def keep(s):
    return len(s) >= MIN_CHARS and sum(ch.isalpha() for ch in s) >= MIN_LETTERS


def text_hash(text):
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def held_out(text):
    return text_hash(text) % 100 < HOLDOUT_PERCENT


def collect():
    """{label: set of texts} from the machine's catalogs."""
    texts = {lab: set() for lab in LABELS}
    for lab, loc in sorted(LANGS.items()):
        if loc is None:
            continue
        for path in sorted(glob.glob(os.path.join(LOCALE_DIR, loc, "LC_MESSAGES", "*.mo"))):
            if SKIP_DOMAINS.match(os.path.basename(path)):
                continue
            for mid, mstr in read_mo(path):
                mid, mstr = clean(mid), clean(mstr)
                if keep(mid):
                    texts["en"].add(mid)
                if keep(mstr) and mstr != mid:
                    texts[lab].add(mstr)
    # a text under two labels is ambiguous: dropped from all
    owner = {}
    for lab in LABELS:
        for t in texts[lab]:
            owner.setdefault(t, []).append(lab)
    return {lab: {t for t in texts[lab] if len(owner[t]) == 1} for lab in LABELS}


def load():
    """(train, heldout): lists of (label, text), sorted by (label, hash)."""
    texts = collect()
    train, heldout = [], []
    for lab in LABELS:
        for t in sorted(texts[lab], key=lambda t: (text_hash(t), t)):
            (heldout if held_out(t) else train).append((lab, t))
    return train, heldout


def fingerprint(pairs):
    h = hashlib.sha256()
    for lab, t in sorted(pairs):
        h.update(("%s\t%s\n" % (lab, t)).encode("utf-8"))
    return h.hexdigest()[:16]


def samples(heldout):
    """SAMPLES_PER_LANG held-out texts per language, smallest hash first."""
    rows = []
    for lab in LABELS:
        rows += [(lab, t) for l2, t in heldout if l2 == lab][:SAMPLES_PER_LANG]
    return [(i + 1, lab, t) for i, (lab, t) in enumerate(rows)]


def write_samples(rows, path):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "lang", "text"])
        for r in rows:
            w.writerow(r)


def main():
    train, heldout = load()
    print("language  train  held-out")
    for lab in LABELS:
        print("%-8s %6d %9d" % (lab, sum(1 for l2, _ in train if l2 == lab),
                                sum(1 for l2, _ in heldout if l2 == lab)))
    print("total    %6d %9d   fingerprint %s" % (len(train), len(heldout),
                                                   fingerprint(train + heldout)))
    rows = samples(heldout)
    path = os.path.join(HERE, "langid_samples.csv")
    write_samples(rows, path)
    print("wrote %s: %d rows, %d bytes" % (path, len(rows), os.path.getsize(path)))


if __name__ == "__main__":
    sys.exit(main())
