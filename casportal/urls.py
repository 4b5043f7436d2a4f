from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from accounts.views import account
from casportal.health import readyz
from casportal.metrics import metrics
from casportal.views import healthz
from provisioning import urls as provisioning_urls
from tenants import views as tenant_views
from tenants.urls import organization_patterns

admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "casportal support"
admin.site.site_title = "casportal support"

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("organizations/", tenant_views.all_organizations, name="all_organizations"),
    path("o/<slug:org_slug>/", include(organization_patterns + provisioning_urls.organization_patterns)),
    path("grant/", include(provisioning_urls.callback_patterns)),
    path("invitations/<str:token>/", tenant_views.invitation, name="invitation"),
    path("account/", account, name="account"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
