{#- Every version of every order with the days it was the known version (docs/design.md invariant 1):
    known from `known_from` until `known_until` (exclusive; null while it is the latest). The one
    relation features, labels, CLV datasets and the spine read orders through; `is_known_at`
    selects the version known at a day.

    Incremental (a fact): a build recomputes only the orders that have a row loaded since the
    last build, all their versions (a correction ends its predecessor's interval), replacing
    them by order_id. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
) }}

with

stg_shop__orders as (
    select * from {{ ref('stg_shop__orders') }}
),

{% if is_incremental() %}
{% call volatile_block() %}
touched as (
    select distinct order_id
    from stg_shop__orders
    where _loaded_at > (
        select coalesce(max(_loaded_at), cast('1900-01-01' as timestamp)) from {{ this }}
    )
),

orders as (
    select stg_shop__orders.*
    from stg_shop__orders
    inner join touched on stg_shop__orders.order_id = touched.order_id
),
{% endcall %}
{% else %}
{% call volatile_block() %}
orders as (
    select * from stg_shop__orders
),
{% endcall %}
{% endif %}

final as (
    select
        order_id,
        customer_id,
        channel,
        amount,
        ordered_at,
        _available_at,
        _loaded_at,
        {{ known_from('ordered_at') }} as known_from,
        {{ known_until('ordered_at', 'order_id', '_available_at') }} as known_until
    from orders
)

select * from final
