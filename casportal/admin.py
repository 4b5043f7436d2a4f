"""The admins of installed packages (auth groups, allauth's email addresses, Celery beat's schedule) are
audited like the portal's own; the portal's apps register after this module and audit themselves."""

from django.contrib import admin

from audit.admin_log import AuditedAdminMixin, audited

for model, model_admin in list(admin.site._registry.items()):
    if not isinstance(model_admin, AuditedAdminMixin):
        admin.site.unregister(model)
        admin.site.register(model, audited(type(model_admin)))
