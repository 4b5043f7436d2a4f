"""What a browser would post back from an admin change form: every editable field and inline row as shown."""

from typing import Any

from django import forms


def _values(form: forms.BaseForm) -> dict[str, Any]:
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if field.disabled or value is None or value is False:
            continue  # a browser posts no disabled field, no empty choice, no unticked box
        data[form.add_prefix(name)] = "on" if value is True else value
    return data


def posted_back(response) -> dict[str, Any]:
    assert response.status_code == 200
    data = _values(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data |= _values(inline.formset.management_form)
        for form in inline.formset.forms:
            data |= _values(form)
    return data


def inline_prefix(response, model) -> str:
    """The form prefix of the inline rows of `model`, e.g. memberships-0."""
    for inline in response.context["inline_admin_formsets"]:
        if inline.formset.model is model:
            return inline.formset.prefix
    raise LookupError(model)
