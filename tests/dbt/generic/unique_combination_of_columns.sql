{#- Fails for each combination of `combination` columns that occurs more than once.

    Arguments:
        model (Relation): the model under test
        combination (list of strings): the columns that together form the key
-#}
{% test unique_combination_of_columns(model, combination) %}

select
    {{ combination | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1

{% endtest %}
