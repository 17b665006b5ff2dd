-- customer_features v1 for every customer and monthly as_of, as one hand-written DuckDB query
-- over the raw tables (the benchmark's reference; DuckDB idioms allowed: QUALIFY, FILTER,
-- ASOF JOIN, list functions). Same rows and values as the dbt models: each order in its version known at
-- as_of, windows of 30/90/365 days up to as_of, attributes valid at as_of, events known at as_of.
-- $as_of_start and $as_of_end are first days of months.
with
as_of_dates as (
    select cast(unnest(generate_series($as_of_start::date, $as_of_end::date, interval 1 month)) as date) as as_of
),
grid as (select min(as_of) as first_as_of, max(as_of) as last_as_of from as_of_dates),
versions as (
    select
        customer_id, cast(amount as decimal(18, 2)) as amount, ordered_at,
        greatest(ordered_at::date, _available_at::date) as known_from,
        min(greatest(ordered_at::date, _available_at::date)) over (
            partition by order_id order by _available_at
            rows between 1 following and unbounded following) as known_until
    from raw.orders
),
spans as (
    select
        customer_id, amount, ordered_at,
        greatest(date_trunc('month', known_from - 1) + interval 1 month, first_as_of)::date as enters,
        coalesce(date_trunc('month', known_until - 1) + interval 1 month, date '9999-01-01')::date as gone,
        last_as_of
    from versions, grid
    where amount > 0
),
counted as (
    select *,
        least(gone, date_trunc('month', ordered_at::date + 29) + interval 1 month)::date as l30,
        least(gone, date_trunc('month', ordered_at::date + 89) + interval 1 month)::date as l90,
        least(gone, date_trunc('month', ordered_at::date + 364) + interval 1 month)::date as l365
    from spans where enters <= last_as_of and gone > enters
),
-- each version as up to five (as_of, deltas) rows, in one pass
deltas as (
    select customer_id, d.as_of,
        sum(d.o30) as o30, sum(d.a30) as a30, sum(d.o90) as o90, sum(d.a90) as a90,
        sum(d.o365) as o365, sum(d.a365) as a365, sum(d.ol) as ol, sum(d.al) as al,
        min(d.first_at) as first_at, max(d.last_at) as last_at
    -- unnest in the select list: a lateral unnest in FROM is decorrelated into a join back on
    -- every column (the query took 1,507 s at bench scale that way)
    from (select customer_id, enters, last_as_of, unnest([
        {'kind': 0, 'as_of': enters, 'o30': (l30 > enters)::int, 'a30': if(l30 > enters, amount, 0),
         'o90': (l90 > enters)::int, 'a90': if(l90 > enters, amount, 0),
         'o365': (l365 > enters)::int, 'a365': if(l365 > enters, amount, 0),
         'ol': 1, 'al': amount,
         'first_at': if(gone > last_as_of, ordered_at, null), 'last_at': if(gone > last_as_of, ordered_at, null)},
        {'kind': 1, 'as_of': l30, 'o30': -1, 'a30': -amount, 'o90': 0, 'a90': 0, 'o365': 0, 'a365': 0, 'ol': 0, 'al': 0, 'first_at': null, 'last_at': null},
        {'kind': 1, 'as_of': l90, 'o30': 0, 'a30': 0, 'o90': -1, 'a90': -amount, 'o365': 0, 'a365': 0, 'ol': 0, 'al': 0, 'first_at': null, 'last_at': null},
        {'kind': 1, 'as_of': l365, 'o30': 0, 'a30': 0, 'o90': 0, 'a90': 0, 'o365': -1, 'a365': -amount, 'ol': 0, 'al': 0, 'first_at': null, 'last_at': null},
        {'kind': 1, 'as_of': gone, 'o30': 0, 'a30': 0, 'o90': 0, 'a90': 0, 'o365': 0, 'a365': 0, 'ol': -1, 'al': -amount, 'first_at': null, 'last_at': null}
    ]) as d from counted)
    where d.as_of <= last_as_of and (d.kind = 0 or d.as_of > enters)
    group by all
),
spine as (
    select c.customer_id, a.as_of
    from (
        select customer_id, min(k) as known_from from (
            select customer_id, greatest(ordered_at::date, _available_at::date) as k from raw.orders
            union all
            select customer_id, greatest(updated_at::date, _available_at::date) from raw.customers
        ) group by all
    ) as c
    join as_of_dates as a on c.known_from <= a.as_of
),
passing as (
    select customer_id, a.as_of, min(ordered_at) as first_at, max(ordered_at) as last_at
    from counted join as_of_dates as a on a.as_of >= enters and a.as_of < gone
    where gone <= last_as_of
    group by all
),
order_facts as (
    select s.customer_id, s.as_of,
        sum(coalesce(d.o30, 0)) over w as orders_30d, sum(coalesce(d.o90, 0)) over w as orders_90d,
        sum(coalesce(d.o365, 0)) over w as orders_365d, sum(coalesce(d.ol, 0)) over w as orders_lifetime,
        sum(coalesce(d.a30, 0)) over w as amount_30d, sum(coalesce(d.a90, 0)) over w as amount_90d,
        sum(coalesce(d.a365, 0)) over w as amount_365d, sum(coalesce(d.al, 0)) over w as amount_lifetime,
        min(d.first_at) over w as first_lasting, max(d.last_at) over w as last_lasting
    from spine as s left join deltas as d using (customer_id, as_of)
    window w as (partition by s.customer_id order by s.as_of)
),
-- each event counts at the (at most four) monthly as_of dates from the first one it is known
-- at to 89 days after it happened: exploded to those dates, then counted (no range join)
event_hits as (
    select e.customer_id, e.event_type, e.occurred_at, cast(unnest(generate_series(
        e.enters, least(e.occurred_at::date + 89, e.last_as_of), interval 1 month)) as date) as as_of
    from (
        select customer_id, event_type, occurred_at, last_as_of,
            greatest(date_trunc('month', greatest(occurred_at::date, _available_at::date) - 1)
                     + interval 1 month, first_as_of)::date as enters
        from raw.engagement_events, grid
        where event_type in ('session', 'support_contact')
    ) as e
),
event_facts as (
    select customer_id, as_of,
        count(*) filter (event_type = 'session' and occurred_at >= as_of - 29) as sessions_30d,
        count(*) filter (event_type = 'session') as sessions_90d,
        count(*) filter (event_type = 'support_contact') as support_contacts_90d
    from event_hits
    group by all
),
customer_versions as (
    select *,
        min(known_from) over (partition by customer_id order by updated_at, _available_at
                              rows between 1 following and unbounded following) as known_until
    from (select *, greatest(updated_at::date, _available_at::date) as known_from from raw.customers)
),
state as (
    select s.customer_id, s.as_of, c.country, c.plan, c.marketing_opt_in, c.signup_at
    from spine as s
    -- versions that are ever the known one have disjoint, ordered intervals: the latest
    -- known_from on or before as_of is the one
    asof left join (
        select * from customer_versions where known_until is null or known_until > known_from
    ) as c
        on s.customer_id = c.customer_id and s.as_of >= c.known_from
)
select
    f.customer_id, f.as_of,
    coalesce(st.country, 'unknown') as country, coalesce(st.plan, 'unknown') as plan,
    f.orders_30d::int as orders_30d, f.orders_90d::int as orders_90d, f.orders_365d::int as orders_365d,
    f.orders_lifetime::int as orders_lifetime,
    f.amount_30d::double as amount_30d, f.amount_90d::double as amount_90d,
    f.amount_365d::double as amount_365d, f.amount_lifetime::double as amount_lifetime,
    date_diff('day', greatest(f.last_lasting, p.last_at)::date, f.as_of)::int as days_since_last_order,
    date_diff('day', least(coalesce(st.signup_at, least(f.first_lasting, p.first_at)),
                           coalesce(least(f.first_lasting, p.first_at), st.signup_at))::date, f.as_of)::int as tenure_days,
    coalesce(e.sessions_30d, 0)::int as sessions_30d, coalesce(e.sessions_90d, 0)::int as sessions_90d,
    coalesce(e.support_contacts_90d, 0)::int as support_contacts_90d,
    coalesce(st.marketing_opt_in, false) as has_marketing_opt_in
from order_facts as f
left join passing as p using (customer_id, as_of)
left join event_facts as e using (customer_id, as_of)
left join state as st using (customer_id, as_of)
