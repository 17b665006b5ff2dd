{#- Each model's champions over time: one row per promotion or rollback (lineage.promotions),
    with when the next one replaced it and how many approvals carried it. -#}
with

promotions as (
    select * from {{ source('lineage', 'promotions') }}
),

approvals as (
    select * from {{ source('lineage', 'approvals') }}
),

approved as (
    select
        request_id,
        count(*) as approvals
    from approvals
    where decision = 'approve'
    group by request_id
),

final as (
    select
        promotions.model_name,
        promotions.training_run_id,
        promotions.model_version,
        promotions.action,
        promotions.actor,
        promotions.request_id,
        coalesce(approved.approvals, 0) as approvals,
        promotions.promoted_at as champion_from,
        lead(promotions.promoted_at) over (
            partition by promotions.model_name order by promotions.promoted_at
        ) as champion_until
    from promotions
    left join approved
        on promotions.request_id = approved.request_id
    where promotions.action in ('promote', 'rollback')
)

select * from final
