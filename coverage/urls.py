from django.urls import path

from coverage import views

# Under /o/<org_slug>/.
organization_patterns = [
    path("services/<str:service_kind>/coverage/", views.service_coverage, name="service_coverage"),
]
