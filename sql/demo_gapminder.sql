-- demo_gapminder: the many-series demo as a test.  test/data/demo_gapminder.sql
-- (also run by test/demo) forecasts 185 countries' life expectancy with one
-- LSTM trained in PyTorch, checks the forecasts against PyTorch's, backtests
-- the held-out decade against the naive forecast with the intervals'
-- coverage, and advances a state kept per country year by year against
-- full re-runs.
\getenv abs_srcdir PG_ABS_SRCDIR
\set demo :abs_srcdir '/test/data/demo_gapminder.sql'
\i :demo
