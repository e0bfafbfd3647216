-- demo_langid: the text demo as a test.  test/data/demo_langid.sql (also run
-- by test/demo) labels real text of 10 languages with a BERT classifier and
-- its WordPiece tokenizer trained in PyTorch, and checks ids, labels and
-- probabilities against PyTorch's.
\getenv abs_srcdir PG_ABS_SRCDIR
\set demo :abs_srcdir '/test/data/demo_langid.sql'
\i :demo
