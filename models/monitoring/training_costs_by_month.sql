{#- What training cost, per model and calendar month (UTC): the runs recorded in
    lineage.run_costs (customer_ml.pipeline.costs prices each run with seeds/rate_card.csv when it is
    recorded, so a later change of the rate card does not rewrite past months). Built after this
    build's training nodes, so their runs are counted: -#}
-- depends_on: {{ ref('ml_churn__train') }}
-- depends_on: {{ ref('ml_clv__train') }}
-- depends_on: {{ ref('ml_segments__train') }}

with

run_costs as (
    select * from {{ source('lineage', 'run_costs') }}
),

final as (
    select
        model_name,
        cast(date_trunc('month', recorded_at) as date) as cost_month,
        count(*) as runs,
        sum(case when status = 'terminated' then 1 else 0 end) as terminated_runs,
        sum(wall_seconds) as wall_seconds,
        sum(cpu_seconds) as cpu_seconds,
        max(peak_rss_mb) as max_peak_rss_mb,
        sum(rows_read) as rows_read,
        sum(bytes_scanned) as bytes_scanned,
        sum(estimated_cost_usd) as estimated_cost_usd
    from run_costs
    group by 1, 2
)

select * from final
