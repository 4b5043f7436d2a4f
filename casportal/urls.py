from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from accounts.views import account
from casportal.metrics import metrics
from casportal.readiness import readyz
from casportal.views import healthz
from coverage import urls as coverage_urls
from directory import urls as directory_urls
from grant import urls as grant_urls
from organizations import urls as organization_urls
from organizations import views as organization_views

admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "casportal support"
admin.site.site_title = "casportal support"

urlpatterns = [
    path("", organization_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("organizations/", organization_views.all_organizations, name="all_organizations"),
    path(
        "o/<slug:org_slug>/",
        include(
            organization_urls.organization_patterns
            + grant_urls.organization_patterns
            + directory_urls.organization_patterns
            + coverage_urls.organization_patterns
        ),
    ),
    path("grant/", include(grant_urls.callback_patterns)),
    path("invitations/<str:token>/", organization_views.invitation, name="invitation"),
    path("account/", account, name="account"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
