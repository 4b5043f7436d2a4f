from typing import cast

from django import forms

from provisioning.models import SyncMode
from tenants.models import Policy, ProtectedService


class GrantForm(forms.Form):
    policy = forms.ModelChoiceField(
        queryset=Policy.objects.none(),
        required=False,
        empty_label="None",
        to_field_name="public_id",
        label="Select the policy to enable automatically when the access grant is complete",
    )
    sync_mode = forms.ChoiceField(choices=SyncMode.choices, initial=SyncMode.ALL, label="Synchronize")

    def __init__(self, *args, service: ProtectedService, fixed_mode: str | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        policy = cast(forms.ModelChoiceField, self.fields["policy"])
        policy.queryset = Policy.objects.filter(service=service).order_by("policy_type", "priority")
        if fixed_mode is not None:
            self.fields["sync_mode"].initial = fixed_mode
            self.fields["sync_mode"].disabled = True


class AddUserForm(forms.Form):
    user_principal_name = forms.CharField(
        label="User principal name", max_length=255, help_text="The exact sign-in name, e.g. alex@contoso.com."
    )

    def clean_user_principal_name(self) -> str:
        upn = self.cleaned_data["user_principal_name"].strip()
        if "@" not in upn or any(ch.isspace() for ch in upn):
            raise forms.ValidationError("Enter a user principal name such as alex@contoso.com.")
        return upn


class GroupSearchForm(forms.Form):
    q = forms.CharField(label="Search groups", min_length=3, max_length=120, strip=True)


class AddFromGroupForm(forms.Form):
    group = forms.UUIDField()
    members = forms.TypedMultipleChoiceField(coerce=str, choices=())

    def __init__(self, *args, member_choices: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["members"]).choices = member_choices
