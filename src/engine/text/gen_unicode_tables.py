#!/usr/bin/python3
"""Generate src/engine/text/sm_unicode_tables.c: the per-code-point facts the
tokenizers need (see sm_unicode.h), from Debian 12's unicode-data package
(Unicode 15.0, /usr/share/unicode).

    /usr/bin/python3 src/engine/text/gen_unicode_tables.py > src/engine/text/sm_unicode_tables.c

The reference, Hugging Face's tokenizers 0.23.2, does not use one Unicode
version but four, and the tables follow each where it matters:

  - GPT-2's pre-tokenisation regex runs on Oniguruma: \\p{L}, \\p{N} of
    Unicode 16.0, \\s = the White_Space property (NEL U+0085 included).
  - BertNormalizer and BertPreTokenizer use the unicode_categories crate for
    Cc/Cf/Co (clean_text drops them), Mn (accent stripping) and P*
    (punctuation): its tables are Unicode 8.0, so a code point assigned later
    counts as unassigned (kept, not punctuation, not a mark), and the few
    code points whose category changed since 8.0 keep their 8.0 category.
  - NFD comes from the unicode-normalization-alignments crate: Unicode 9.0
    decompositions and combining classes (U+11938, decomposable since 13.0,
    stays whole).
  - Lower-casing is Rust's char::to_lowercase (Unicode 17.0): UnicodeData's
    simple mappings plus SpecialCasing's unconditional one (U+0130 -> i +
    U+0307), and the mappings Unicode 16.0 and 17.0 added.
  - Whitespace (BERT's split and clean_text) is Rust's char::is_whitespace,
    the White_Space property, the same set as Oniguruma's \\s.

What Debian's 15.0 files lack (16.0/17.0 additions) and the 8.0 category
changes are listed below as data.  Every entry was checked, and the whole
table is checked, against the reference code point by code point with
test/fixtures/probe_unicode_ref.js (run: node test/fixtures/probe_unicode_ref.js DIR, then
this script with --check DIR).
"""
import sys

UCD = '/usr/share/unicode/'

# Oniguruma's \p{L} / \p{N} additions of Unicode 16.0 (unassigned in 15.0)
ONIG_16 = """1C89..1C8A:L A7CB..A7CD:L A7DA..A7DC:L 105C0..105F3:L 10D40..10D49:N
10D4A..10D65:L 10D6F..10D85:L 10EC2..10EC4:L 11380..11389:L 1138B..1138B:L
1138E..1138E:L 11390..113B5:L 113B7..113B7:L 113D1..113D1:L 113D3..113D3:L
116D0..116E3:N 11BC0..11BE0:L 11BF0..11BF9:N 13460..143FA:L 16100..1611D:L
16130..16139:N 16D40..16D6C:L 16D70..16D79:N 18CFF..18CFF:L 1CCF0..1CCF9:N
1E5D0..1E5ED:L 1E5F0..1E5F0:L 1E5F1..1E5FA:N 2EBF0..2EE5D:L"""

# lower-case mappings of Unicode 16.0 and 17.0: FIRST..LAST:DELTA or CP:TARGET
LOWER_16_17 = {0x1C89: 0x1C8A, 0xA7CB: 0x0264, 0xA7CC: 0xA7CD, 0xA7CE: 0xA7CF,
               0xA7D2: 0xA7D3, 0xA7D4: 0xA7D5, 0xA7DA: 0xA7DB, 0xA7DC: 0x019B}
LOWER_16_17.update({c: c + 0x20 for c in range(0x10D50, 0x10D66)})
LOWER_16_17.update({c: c + 0x1B for c in range(0x16EA0, 0x16EB9)})

# general categories as of Unicode 8.0 where they changed later
CAT_8_CHANGED = {0x1734: 'Mn', 0x1885: 'Lo', 0x1886: 'Lo', 0xA9BD: 'Mc',
                 0x111C9: 'Po', 0x166D: 'Po'}

CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
              (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF),
              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]

F_L, F_N, F_WS, F_CTRL, F_PUNCT, F_MN, F_CJK, F_MAP = 1, 2, 4, 8, 16, 32, 64, 128
BLOCK = 128


def ranges(path, want):
    """code points of a property file's lines whose value is `want`"""
    out = set()
    for line in open(UCD + path, encoding='utf-8'):
        line = line.split('#')[0].strip()
        if not line:
            continue
        r, v = [x.strip() for x in line.split(';')[:2]]
        if want is None or v == want:
            a, _, b = r.partition('..')
            out.update(range(int(a, 16), int(b or a, 16) + 1))
    return out


def load():
    cat, dec, lower, ccc = {}, {}, {}, {}
    first = None
    for line in open(UCD + 'UnicodeData.txt', encoding='utf-8'):
        f = line.rstrip('\n').split(';')
        cp = int(f[0], 16)
        if f[1].endswith(', First>'):
            first = cp
            continue
        if f[1].endswith(', Last>'):
            for c in range(first, cp + 1):
                cat[c] = f[2]
            continue
        cat[cp] = f[2]
        if f[5] and not f[5].startswith('<'):
            dec[cp] = [int(x, 16) for x in f[5].split()]
        if f[13]:
            lower[cp] = [int(f[13], 16)]
        if f[3] != '0':
            ccc[cp] = int(f[3])
    # SpecialCasing: unconditional lower-case mappings (no condition field)
    for line in open(UCD + 'SpecialCasing.txt', encoding='utf-8'):
        line = line.split('#')[0].strip()
        if not line:
            continue
        f = [x.strip() for x in line.split(';')]
        if len(f) >= 5 and f[4] == '':
            cp = int(f[0], 16)
            lo = [int(x, 16) for x in f[1].split()]
            if lo != [cp]:
                lower[cp] = lo
    for c, t in LOWER_16_17.items():
        lower[c] = [t]
    age = {}
    for line in open(UCD + 'DerivedAge.txt', encoding='utf-8'):
        line = line.split('#')[0].strip()
        if not line:
            continue
        r, v = [x.strip() for x in line.split(';')]
        a, _, b = r.partition('..')
        for c in range(int(a, 16), int(b or a, 16) + 1):
            age[c] = tuple(int(x) for x in v.split('.'))
    return cat, dec, lower, ccc, age


def build():
    cat, dec, lower, ccc, age = load()
    white = ranges('PropList.txt', 'White_Space')

    def cat8(c):
        if c in CAT_8_CHANGED:
            return CAT_8_CHANGED[c]
        return cat.get(c, 'Cn') if age.get(c, (99,)) <= (8, 0) else 'Cn'

    def ccc9(c):
        return ccc.get(c, 0) if age.get(c, (99,)) <= (9, 0) else 0

    def nfd(c):
        # Hangul syllables are decomposed by code (sm_unicode.c)
        if c in dec and age.get(c, (99,)) <= (9, 0):
            return [x for d in dec[c] for x in nfd(d)]
        return [c]

    onig = {}
    for item in ONIG_16.split():
        r, k = item.split(':')
        a, _, b = r.partition('..')
        for c in range(int(a, 16), int(b, 16) + 1):
            onig[c] = k

    flags = bytearray(0x110000)
    special = {}
    for c in range(0x110000):
        g = cat.get(c, 'Cn')
        k = onig.get(c, g[0])
        f = 0
        if k == 'L':
            f |= F_L
        elif k == 'N':
            f |= F_N
        if c in white:
            f |= F_WS
        g8 = cat8(c)
        if c in (0, 0xFFFD) or (g8 in ('Cc', 'Cf', 'Co') and c not in (9, 10, 13)):
            f |= F_CTRL
        if g8[0] == 'P' or (c < 128 and chr(c) in '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'):
            f |= F_PUNCT
        if g8 == 'Mn':
            f |= F_MN
        if any(a <= c <= b for a, b in CJK_RANGES):
            f |= F_CJK
        lo = lower.get(c, [c])
        d = nfd(c)
        cc = ccc9(c)
        if lo != [c] or d != [c] or cc:
            f |= F_MAP
            special[c] = (cc, lo if lo != [c] else [], d if d != [c] else [])
        flags[c] = f
    return flags, special


def check(flags, special, probe_dir):
    """compare with the reference's behaviour dumped by probe_unicode_ref.js"""
    bad = 0
    for line in open(probe_dir + '/bl_class.txt'):
        c, k = line.split()
        c = int(c, 16)
        f = flags[c]
        mine = '1000' if f & F_L else '0100' if f & F_N else '0001' if f & F_WS else '0010'
        if mine != k:
            bad += 1
            print('byte-level class of U+%04X: reference %s, table %s' % (c, k, mine))
    pre = {}
    for line in open(probe_dir + '/bert_pre.txt'):
        c, k = line.split()
        pre[int(c, 16)] = int(k)
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        f = flags[c]
        mine = 3 if f & F_PUNCT else 2 if f & F_WS else 1
        if mine != pre.get(c, 1):
            bad += 1
            print('BERT pre-tokenizer pieces of a U+%04X a: reference %d, table %d' % (c, pre.get(c, 1), mine))
    print('%d differences' % bad, file=sys.stderr)
    return bad


def emit(flags, special):
    blocks, index = [], []
    seen = {}
    for b in range(0, 0x110000, BLOCK):
        blk = bytes(flags[b:b + BLOCK])
        if blk not in seen:
            seen[blk] = len(blocks)
            blocks.append(blk)
        index.append(seen[blk])
    out = []
    w = out.append
    w('/*\n * sm_unicode_tables.c -- GENERATED by src/engine/text/gen_unicode_tables.py from\n'
      ' * Debian\'s unicode-data (Unicode 15.0) plus the additions and version\n'
      ' * choices listed in that script.  Do not edit.\n */\n')
    w('#include "sm_unicode.h"\n\n')
    w('/* flags of code point c: sm_uni_block[sm_uni_index[c >> 7]][c & 127] */\n')
    w('const uint16_t sm_uni_index[%d] = {\n' % len(index))
    for i in range(0, len(index), 16):
        w('\t' + ','.join(str(x) for x in index[i:i + 16]) + ',\n')
    w('};\n\n')
    w('const uint8_t sm_uni_block[%d][%d] = {\n' % (len(blocks), BLOCK))
    for blk in blocks:
        w('\t{')
        for i in range(0, BLOCK, 32):
            w(('\n\t\t' if i else '') + ','.join('%d' % x for x in blk[i:i + 32]) + ',')
        w('},\n')
    w('};\n\n')
    pool = []
    rows = []
    for c in sorted(special):
        cc, lo, d = special[c]
        off = len(pool)
        pool.extend(lo)
        pool.extend(d)
        rows.append((c, cc, len(lo), len(d), off))
    assert len(pool) < 65536 and all(len(special[c][1]) < 256 and len(special[c][2]) < 256 for c in special)
    w('/* code points with a lower-case mapping, a canonical decomposition or a\n'
      ' * combining class, sorted; lower and decomposition in sm_uni_pool */\n')
    w('const sm_uni_special sm_uni_specials[%d] = {\n' % len(rows))
    for r in rows:
        w('\t{0x%X,%d,%d,%d,%d},\n' % r)
    w('};\n\n')
    w('const int sm_uni_nspecials = %d;\n\n' % len(rows))
    w('const uint32_t sm_uni_pool[%d] = {\n' % max(1, len(pool)))
    for i in range(0, len(pool), 12):
        w('\t' + ','.join('0x%X' % x for x in pool[i:i + 12]) + ',\n')
    w('};\n')
    sys.stdout.write(''.join(out))


if __name__ == '__main__':
    flags, special = build()
    if len(sys.argv) == 3 and sys.argv[1] == '--check':
        sys.exit(1 if check(flags, special, sys.argv[2]) else 0)
    emit(flags, special)
