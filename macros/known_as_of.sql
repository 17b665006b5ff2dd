{#- The point-in-time rule (DESIGN.md invariant 1), in one place.

    A fact row is known at as_of T when its event time and its `_available_at` are both on or
    before the end of day T (an as_of is a date and includes that whole day).

    Arguments:
        relation_alias (string): alias of the fact relation in the query
        event_at (string): its event-time column (ordered_at, occurred_at, updated_at)
        as_of (string): the as_of date expression, e.g. `spine.as_of`
-#}
{% macro known_as_of(relation_alias, event_at, as_of) -%}
    {{ relation_alias }}.{{ event_at }} < {{ dbt.dateadd('day', 1, as_of) }}
    and {{ relation_alias }}._available_at < {{ dbt.dateadd('day', 1, as_of) }}
{%- endmacro %}
