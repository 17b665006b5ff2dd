{#- Fails for each pair of rows of one key whose validity windows overlap (a delete followed by a
    re-insert with the same timestamp can produce them in a dbt snapshot).

    Arguments:
        model (Relation): the model under test
        key (string): the entity key column
        valid_from (string): start of validity (inclusive)
        valid_to (string): end of validity (exclusive; NULL = still valid)
-#}
{% test no_overlapping_validity(model, key, valid_from, valid_to) %}

select
    earlier.{{ key }},
    earlier.{{ valid_from }} as earlier_valid_from,
    later.{{ valid_from }} as later_valid_from
from {{ model }} as earlier
inner join {{ model }} as later
    on earlier.{{ key }} = later.{{ key }}
    and earlier.{{ valid_from }} < later.{{ valid_from }}
    and coalesce(earlier.{{ valid_to }}, cast('9999-12-31' as timestamp)) > later.{{ valid_from }}

{% endtest %}
