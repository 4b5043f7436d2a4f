from typing import Any, cast

from django import forms


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


class UserSearchForm(forms.Form):
    user_q = forms.CharField(label="Find users", min_length=2, max_length=120, strip=True)


class AddListedForm(forms.Form):
    """Users chosen from a listing (a group's members, a search's results), or all of them."""

    members = forms.TypedMultipleChoiceField(coerce=str, choices=(), required=False)
    all = forms.BooleanField(required=False)

    def __init__(self, *args: Any, member_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["members"]).choices = member_choices

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("all") and not cleaned.get("members"):
            raise forms.ValidationError("Choose at least one user.")
        return cleaned


class UserFilterForm(forms.Form):
    """The Directory's filters of users; every field may be left out."""

    q = forms.CharField(label="Search", required=False, max_length=100, strip=True)
    account = forms.ChoiceField(
        label="Account",
        required=False,
        choices=[("", "All accounts"), ("enabled", "Enabled"), ("disabled", "Disabled")],
    )
    license = forms.ChoiceField(
        label="License",
        required=False,
        choices=[("", "Licensed or not"), ("licensed", "Licensed"), ("unlicensed", "Unlicensed")],
    )


class GroupFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100, strip=True)
    type = forms.ChoiceField(label="Type", required=False, choices=())

    def __init__(self, *args: Any, group_types: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["type"]).choices = [("", "All types"), *group_types]


class MemberFilterForm(UserFilterForm):
    """A group's members: by type, and its users as the Directory filters them."""

    type = forms.ChoiceField(label="Members", required=False, choices=())

    def __init__(self, *args: Any, member_types: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["type"]).choices = [("", "All members"), *member_types]
