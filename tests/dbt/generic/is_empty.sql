{#- Fails when the model has any row.

    Arguments:
        model (Relation): the model under test
-#}
{% test is_empty(model) %}

select * from {{ model }}

{% endtest %}
