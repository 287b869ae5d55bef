"""The layers contract for the schema: import-linter (``.ci/run``) keeps imports one way, but a foreign key named
by string (``"distributions.Distribution"``) is invisible to it. This test applies the same layers
(``pyproject.toml`` ``[tool.importlinter]``) to every relation between the project's models: a model may point at
its own app, at a lower layer, or at an app outside the project (Django's), and at a sibling of its layer or a
higher app only where listed below, with the reason."""

import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent

# (app_label.Model.field, why a lower app's row points up)
UPWARD_RELATIONS = {
    "obligations.Obligation.adjusts_distribution": (
        "an adjustment records which distribution it corrects; obligations code never imports distributions "
        "(it takes the distribution as an argument), and the link is PROTECT so no period can vanish under one"
    ),
}


def layer_of() -> dict[str, int]:
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    ranks = {}
    for rank, layer in enumerate(contract["layers"]):
        for app in layer.split("|"):
            ranks[app.strip()] = rank  # 0 is the top
    return ranks


def test_models_point_only_down_the_layers():
    ranks = layer_of()
    upward = []
    for model in apps.get_models():
        source = model._meta.app_label
        if source not in ranks:
            continue
        for field in model._meta.get_fields():
            if not field.is_relation or field.auto_created or field.related_model is None:
                continue
            target = field.related_model._meta.app_label
            if target == source or target not in ranks:
                continue
            if ranks[target] <= ranks[source]:  # higher, or a sibling
                upward.append(f"{source}.{model.__name__}.{field.name}")
    assert sorted(upward) == sorted(UPWARD_RELATIONS), (
        "a relation points up the layers (or at a sibling); point it down, or list it with its reason"
    )


def test_the_layers_cover_every_app_with_models():
    ranks = layer_of()
    project_apps = {config.label for config in apps.get_app_configs() if Path(config.path).parent == ROOT}
    with_models = {label for label in project_apps if list(apps.get_app_config(label).get_models())}
    assert with_models <= set(ranks), with_models - set(ranks)
