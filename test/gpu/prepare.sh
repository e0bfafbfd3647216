#!/usr/bin/env bash
# On the ordinary machine, before the GPU call (test/gpu/README.md): .gpu/ with
# PostgreSQL 15 for the GPU machine (../shared/gpu/prepare.sh) and the peers'
# model scripts the benchmark imports (../shared never travels).
#
#   bash test/gpu/prepare.sh      # then: device tool, carry [".gpu"], bash test/gpu/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
shared=${SHARED:-../shared}
bash "$shared/gpu/prepare.sh"
mkdir -p .gpu/peers
cp "$shared"/peers/*.py .gpu/peers/
du -sh .gpu | sed 's/^/.gpu: /'
