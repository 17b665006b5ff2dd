{#- The point-in-time rule (docs/design.md invariant 1), in one place.

    A row is known from the day both its event time and its `_available_at` have passed (an
    as_of is a date and includes that whole day): `known_from`. Where a key has versions (order
    corrections, customer changes), the version known at day T is the latest one (by
    availability) known by then; it stays the known one until a later version becomes known:
    `known_until` (exclusive; null while it is the latest). The `int_*_known_as_of` models compute
    both columns with these macros; every reader asks `is_known_at`.
-#}

{#- The day a row becomes known.

    Arguments:
        event_at (string): the event-time column expression (e.g. `ordered_at`)
        available_at (string): its availability column expression (default `_available_at`)
-#}
{% macro known_from(event_at, available_at='_available_at') -%}
    greatest(cast({{ event_at }} as date), cast({{ available_at }} as date))
{%- endmacro %}

{#- The day a later version of the same key becomes known (null when none does): the earliest
    `known_from` among the versions that follow this one in `version_order`.

    Arguments:
        event_at (string): the event-time column expression
        partition_by (string): the key whose versions these are (e.g. `order_id`)
        version_order (string): what makes a version later (e.g. `_available_at`)
-#}
{% macro known_until(event_at, partition_by, version_order) -%}
    min({{ known_from(event_at) }}) over (
        partition by {{ partition_by }}
        order by {{ version_order }}
        rows between 1 following and unbounded following
    )
{%- endmacro %}

{#- True when the row of `relation_alias` (a `*_known_as_of` model) is the version known at day
    `as_of`.

    Arguments:
        relation_alias (string): alias of the relation in the query
        as_of (string): the as_of date expression, e.g. `spine.as_of`
-#}
{% macro is_known_at(relation_alias, as_of) -%}
    {{ relation_alias }}.known_from <= {{ as_of }}
    and ({{ relation_alias }}.known_until is null or {{ as_of }} < {{ relation_alias }}.known_until)
{%- endmacro %}

{#- The first as_of of the spine's monthly grid on or after `day` (as_of dates are the first days
    of months, checked by `as_of_grid`). Null stays null.

    Arguments:
        day (string): a date expression
-#}
{% macro next_as_of(day) -%}
    {#- the day after the last day of the month of the day before: date arithmetic only (the
        interval arithmetic of dbt.dateadd and date_trunc goes through timestamps, and this runs
        over every order and event) -#}
    (last_day(cast({{ day }} as date) - 1) + 1)
{%- endmacro %}

{#- The as_of grid from vars as_of_start and as_of_end, checked: both must be first days of
    months, start before end. Returns the start and end as date literals. -#}
{% macro as_of_grid() -%}
    {%- set start, end = var('as_of_start') | string, var('as_of_end') | string -%}
    {%- for name, value in [('as_of_start', start), ('as_of_end', end)] -%}
        {%- if modules.re.match('^[0-9]{4}-(0[1-9]|1[0-2])-01$', value) is none -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ ": " ~ value ~ " is not the first day of a month (YYYY-MM-01);"
                ~ " as_of dates are the first days of months") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if start > end -%}
        {{ exceptions.raise_compiler_error(
            "vars as_of_start " ~ start ~ " and as_of_end " ~ end ~ ": the start is after the end") }}
    {%- endif -%}
    {#- marked volatile: which dates a build covers, not how it computes (record_definition);
        the `_unmarked` forms are for use inside a block that is marked as a whole -#}
    {{ return({
        'start': volatile("cast('" ~ start ~ "' as date)"),
        'end': volatile("cast('" ~ end ~ "' as date)"),
        'start_unmarked': "cast('" ~ start ~ "' as date)",
        'end_unmarked': "cast('" ~ end ~ "' as date)",
    }) }}
{%- endmacro %}
