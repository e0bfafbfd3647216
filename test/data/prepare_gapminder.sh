#!/usr/bin/env bash
# Writes test/data/gapminder_life_expectancy.csv from the gapminder data set
# of Debian 12's r-cran-dslabs (0.7.4-1): life expectancy at birth of 185
# countries, yearly 1960 .. 2016 (see README.md, "Many series").  Needs R:
#
#   apt-get install r-base-core r-cran-dslabs
#   bash test/data/prepare_gapminder.sh
#
# Deterministic: rows ordered by country (C collation), then year; values as
# the package stores them (2 decimals).
set -euo pipefail
cd "$(dirname "$0")"
LC_ALL=C Rscript --vanilla -e '
suppressMessages(library(dslabs))
data(gapminder)
g <- gapminder[, c("country", "continent", "year", "life_expectancy")]
g$country <- as.character(g$country)
g$continent <- as.character(g$continent)
if (any(is.na(g))) stop("missing values")
g <- g[order(g$country, g$year, method = "radix"), ]
years <- table(g$country)
if (any(years != 57)) stop("a country without 57 years")
g$life_expectancy <- sprintf("%.2f", g$life_expectancy)
write.csv(g, "gapminder_life_expectancy.csv", row.names = FALSE, quote = c(1, 2))
cat(sprintf("%d rows, %d countries, %d .. %d\n", nrow(g), length(years), min(g$year), max(g$year)))
'
