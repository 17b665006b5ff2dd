{#- Every row of the customers change log with the days it was the customer's known state
    (docs/design.md invariant 1): from `known_from` until `known_until` (exclusive; null while it is
    the latest). A later row is one with a later updated_at (then _available_at). The one place
    dimension values valid at a day come from; `is_known_at` selects them. -#}
with

stg_shop__customers as (
    select * from {{ ref('stg_shop__customers') }}
),

final as (
    select
        customer_id,
        country,
        plan,
        has_marketing_opt_in,
        signup_at,
        updated_at,
        _available_at,
        _loaded_at,
        {{ known_from('updated_at') }} as known_from,
        {{ known_until('updated_at', 'customer_id', 'updated_at, _available_at') }} as known_until
    from stg_shop__customers
)

select * from final
