"""What the template is derived from: the stage's Chalice configuration, application graph and models."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.deploy import models
from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
from chalice.utils import to_cfn_resource_name

from chalicelib import aws
from chalicelib.settings import clear_settings, get_settings
from infra.access import access
from infra.template.names import PROJECT_DIR

# Environment variables that decide resource names; the stage's Lambda environment alone sets them.
_NAMING_VARIABLES = ("STAGE", "TABLE_PREFIX", "KMS_KEY_ID", "FUNCTION_PREFIX")


class TemplateError(Exception):
    """The models or the Chalice configuration cannot be turned into a valid template."""


@dataclass(frozen=True)
class Function:
    """One Lambda function of the Chalice app, by its logical ids in ``sam.json``."""

    logical_id: str
    name: str  # Chalice's: api_handler, or the name given to @app.lambda_function, @app.schedule, ...
    function_name: str  # Chalice's name for it, keyport-STAGE[-name]: FUNCTION_PREFIX + name in the app
    role: str | None  # None when the role is not managed by Chalice (iam_role_arn)
    log_group: str | None  # None without log_retention_in_days
    invoked_by_app: bool  # an @app.lambda_function, which the app invokes itself (chalicelib/jobs/invoke.py)
    handler: str = "app.app"  # Chalice's handler string: module.function (app.py's, or a service blueprint's)
    timeout: int = 60
    access: Any = None  # infra.access.Access: what its code reaches


@dataclass(frozen=True)
class Table:
    """One DynamoDB table: its model, logical id and stage-specific name."""

    logical_id: str
    name: str
    model: Any


@dataclass(frozen=True)
class Stage:
    """Everything the template of one stage is derived from."""

    name: str
    environment: dict[str, str]
    table_prefix: str
    key_alias: str
    tables: tuple[Table, ...]
    functions: tuple[Function, ...]
    websocket_stage: str | None  # the WebsocketAPI's stage, when the app has websocket handlers

    @property
    def roles(self) -> list[str]:
        return sorted({f.role for f in self.functions if f.role})

    def function(self, name: str) -> Function | None:
        """The function Chalice calls ``name`` (api_handler, build_worker, ...)."""
        return next((f for f in self.functions if f.name == name), None)

    def models_of(self, function: Function) -> list[Table]:
        """The tables of the models that the function's code names."""
        named = {(m, n) for m, n in function.access.models}
        return [t for t in self.tables if (t.model.__module__, t.model.__name__) in named]

    def key_users(self) -> list[str]:
        """Roles whose functions use the key (envelope encryption, or reading a secret encrypted with it)."""
        return sorted({f.role for f in self.functions if f.role and (f.access.key or f.access.secrets)})


# --- what the template is derived from ---------------------------------------------------------------


def load_stage(name: str, *, project_dir: Path = PROJECT_DIR, require_defined: bool = True) -> Stage:
    """Read the stage's Chalice configuration, app graph and models."""

    factory = CLIFactory(str(project_dir), environ=dict(os.environ))
    stages = factory.load_project_config().get("stages", {})
    if require_defined and name not in stages:
        raise TemplateError(f"Stage '{name}' is not defined in .chalice/config.json (stages: {', '.join(stages)}).")
    config = factory.create_config_obj(chalice_stage_name=name)
    environment = {"STAGE": name, **{k: str(v) for k, v in config.environment_variables.items()}}
    if environment["STAGE"] != name:
        raise TemplateError(f"Stage '{name}' sets STAGE={environment['STAGE']} in .chalice/config.json.")
    with _settings_for(environment) as settings:
        table_prefix = settings.table_prefix
        key_alias = settings.kms_key_id
        function_prefix = getattr(settings, "function_prefix", None)
        tables = _tables(settings.table_name)
    if not key_alias.startswith("alias/"):
        raise TemplateError(f"KMS_KEY_ID must name the stage's key by alias (alias/...), not '{key_alias}'.")
    for other, prefix in _other_table_prefixes(factory, stages, name).items():
        if prefix.startswith(table_prefix + "-"):
            raise TemplateError(
                f"Stage '{other}' names its tables {prefix}-*, inside '{name}''s {table_prefix}-*: "
                "the stages would share table permissions. Choose prefixes that do not nest."
            )
    functions, websocket_stage = _functions(config, name)
    for function in functions:
        if function.invoked_by_app and function_prefix and function_prefix + function.name != function.function_name:
            raise TemplateError(
                f"The app would invoke {function_prefix + function.name}, but the function is "
                f"{function.function_name}: FUNCTION_PREFIX and the Chalice app name disagree."
            )
    return Stage(name, environment, table_prefix, key_alias, tables, functions, websocket_stage)


def _other_table_prefixes(factory: Any, stages: dict[str, Any], name: str) -> dict[str, str]:
    prefixes = {}
    for other in stages:
        if other != name:
            config = factory.create_config_obj(chalice_stage_name=other)
            environment = {"STAGE": other, **{k: str(v) for k, v in config.environment_variables.items()}}
            with _settings_for(environment) as settings:
                prefixes[other] = settings.table_prefix
    return prefixes


@contextmanager
def _settings_for(environment: dict[str, str]) -> Iterator[Any]:
    """The settings a Lambda function with exactly this environment computes (process env restored after)."""

    saved = {k: os.environ.get(k) for k in _NAMING_VARIABLES}
    try:
        for key in _NAMING_VARIABLES:
            os.environ.pop(key, None)
            if key in environment:
                os.environ[key] = environment[key]
        clear_settings()
        yield get_settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        clear_settings()


def _tables(table_name: Callable[[str], str]) -> tuple[Table, ...]:

    tables: dict[str, Table] = {}
    for model in aws.all_models():
        aggregate = model.Meta.aggregate
        logical_id = to_cfn_resource_name(aggregate) + "Table"
        if logical_id in tables:
            other = tables[logical_id].model.__name__
            raise TemplateError(f"Models {other} and {model.__name__} both map to the table {logical_id}.")
        tables[logical_id] = Table(logical_id, table_name(aggregate), model)
    return tuple(sorted(tables.values(), key=lambda t: t.logical_id))


def _functions(config: Any, stage: str) -> tuple[tuple[Function, ...], str | None]:
    """Chalice's functions with the logical ids its SAM generator gives them (see chalice/package.py)."""

    application = ApplicationGraphBuilder().build(config, stage)
    resources = DependencyBuilder().build_dependencies(application)
    api_handlers = {r.lambda_function.resource_name for r in resources if isinstance(r, models.RestAPI)}
    invoked = {f.name for f in config.chalice_app.pure_lambda_functions}
    websocket_stage = next((r.api_gateway_stage for r in resources if isinstance(r, models.WebsocketAPI)), None)

    workers = {f.name for f in config.chalice_app.pure_lambda_functions}
    functions = []
    for resource in resources:
        if not isinstance(resource, models.LambdaFunction):
            continue
        if resource.resource_name in api_handlers:
            logical_id = "APIHandler"
        else:
            logical_id = to_cfn_resource_name(resource.resource_name)
        role = None
        if isinstance(resource.role, models.ManagedIAMRole):
            role = to_cfn_resource_name(resource.role.resource_name)
        log_group = to_cfn_resource_name(resource.log_group.resource_name) if resource.log_group else None
        invoked_by_app = resource.resource_name in invoked
        functions.append(
            Function(
                logical_id,
                resource.resource_name,
                resource.function_name,
                role,
                log_group,
                invoked_by_app,
                handler=resource.handler,
                timeout=int(resource.timeout),
                access=access(resource.handler, workers, Path(config.project_dir)),
            )
        )
    return tuple(sorted(functions, key=lambda f: f.logical_id)), websocket_stage
