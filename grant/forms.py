from typing import Any, cast

from django import forms

from directory.models import SyncMode
from organizations.models import Policy, ProtectedService


class GrantForm(forms.Form):
    policy = forms.ModelChoiceField(
        queryset=Policy.objects.none(),
        required=False,
        empty_label="None",
        to_field_name="public_id",
        label="Select the policy to enable automatically when the access grant is complete",
    )
    sync_mode = forms.ChoiceField(choices=SyncMode.choices, initial=SyncMode.ALL, label="Synchronize")

    def __init__(self, *args: Any, service: ProtectedService, fixed_mode: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        policy = cast(forms.ModelChoiceField, self.fields["policy"])
        policy.queryset = Policy.objects.filter(service=service).order_by("policy_type", "priority")
        if fixed_mode is not None:
            self.fields["sync_mode"].initial = fixed_mode
            self.fields["sync_mode"].disabled = True


class RemoveForm(forms.Form):
    """What the admin typed to confirm a removal that deletes the synchronized directory (checked by the service)."""

    confirmation = forms.CharField(required=False, max_length=100, strip=True, label="Type to confirm")
