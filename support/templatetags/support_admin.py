from django import template

from support.staff import credential_warnings

register = template.Library()


@register.inclusion_tag("admin/credential_banner.html")
def credential_banner() -> dict:
    return {"warnings": credential_warnings()}
