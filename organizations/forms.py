from django import forms

from organizations.models import Role


class InviteMemberForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.READ_ONLY)


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class PolicyToggleForm(forms.Form):
    enabled = forms.TypedChoiceField(choices=(("1", "Enable"), ("0", "Disable")), coerce=lambda value: value == "1")
