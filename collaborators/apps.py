from django.apps import AppConfig


class CollaboratorsConfig(AppConfig):
    name = "collaborators"
