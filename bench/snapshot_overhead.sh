#!/usr/bin/env bash
# The build's data-snapshot overhead at bench scale, before and after a change (issue 15, item 4):
# for each of two commits, on its own copy of a loaded bench warehouse: build the two large
# staging views (whose post-hooks register the raw.orders and raw.engagement_events snapshots)
# and run assert_data_snapshots_verify; load one new day; build and verify again (a daily
# build). dbt's per-node timing and /usr/bin/time go to WORK/<label>/*.log.
#
#   bench/snapshot_overhead.sh OLD_COMMIT NEW_COMMIT BENCH_WAREHOUSE DAY_ORDERS DAY_EVENTS WORK
#
# BENCH_WAREHOUSE: a dev.duckdb with the bench data loaded (make bench SCALE=bench, or
# customer-ml generate --scale bench + customer-ml load); DAY_*: Parquet files of one new day.
# Needs 2 x the warehouse's size on disk. Run from the checkout: its .venv (and so its Python
# package) serves both commits; the commits differ in their dbt project (macros, models).
set -euo pipefail
old=$1 new=$2 warehouse=$3 day_orders=$4 day_events=$5 work=$6
repo=$(pwd)
for label in old new; do
  commit=${!label}
  dir=$work/$label
  rm -rf "$dir" && mkdir -p "$dir/wh"
  git worktree add -f "$dir/project" "$commit" > /dev/null
  cp "$warehouse" "$dir/wh/dev.duckdb"
  export CUSTOMER_ML_WAREHOUSE_DIR=$dir/wh CUSTOMER_ML_HOME=$dir/project \
    MLFLOW_DISABLE_TELEMETRY=true DBT_PROFILES_DIR=$dir/project/profiles
  for i in 1 2; do
    if [ "$i" = 2 ]; then
      (cd "$dir/project" && "$repo/.venv/bin/customer-ml" load --target dev \
        --orders "$day_orders" --events "$day_events" > "$dir/load.log" 2>&1)
    fi
    (cd "$dir/project" && /usr/bin/time -f "%e s wall %M KB peak" "$repo/.venv/bin/dbt" build \
      --target dev --select stg_shop__orders stg_shop__engagement_events \
      --exclude "test_type:data" --vars '{run_type: experiment}' \
      --target-path "$dir/target" --log-path "$dir/logs" > "$dir/stg$i.log" 2>&1)
    (cd "$dir/project" && /usr/bin/time -f "%e s wall %M KB peak" "$repo/.venv/bin/dbt" test \
      --target dev --select assert_data_snapshots_verify \
      --target-path "$dir/target" --log-path "$dir/logs" > "$dir/verify$i.log" 2>&1)
  done
  git worktree remove --force "$dir/project"
  rm -f "$dir/wh/dev.duckdb"
done
grep -hE "OK created|PASS assert|s wall" "$work"/*/stg*.log "$work"/*/verify*.log
