from catalog.views import home
from django.contrib import admin
from django.urls import path

urlpatterns = [path("", home), path("admin/", admin.site.urls)]
