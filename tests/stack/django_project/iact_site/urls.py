from django.urls import path
from inventory import views

urlpatterns = [
    path("api/health", views.health),
    path("api/db-check", views.db_check),
    path("api/cache-check", views.cache_check),
    path("api/auth/login", views.login),
    path("api/users/me", views.me),
    path("api/items", views.items),
]
