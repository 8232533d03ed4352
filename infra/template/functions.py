"""Overrides of Chalice's functions (names, runtime, environment), their log groups and the REST API."""

from __future__ import annotations

from typing import Any

from infra.template.names import BUILD_WORKER, DISTRIBUTION, PUBLISH_BUCKET, RETAINED, RUNTIME, SECRETS
from infra.template.stage import Stage

# Functions whose environment gets the public URLs (parameters below).
PUBLIC_URL_FUNCTIONS = ("APIHandler",)


PARAMETERS: dict[str, dict[str, Any]] = {
    "PublicUrl": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^(https://\\S+)?$",
        "Description": "Public base URL (a custom domain); empty to derive URLs from each request.",
    },
    "CallbackUrl": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^(https://\\S+)?$",
        "Description": "OAuth callback URL registered with providers; empty for PublicUrl + /auth/callback.",
    },
}


# Parameter -> environment variable of PUBLIC_URL_FUNCTIONS (read by chalicelib/settings.py).
PARAMETER_ENVIRONMENT = {
    "PublicUrl": "PUBLIC_URL",
    "CallbackUrl": "CALLBACK_URL",
}


def function_overrides(stage: Stage) -> dict[str, Any]:
    # Chalice's own names (as `chalice deploy` would give them), not CloudFormation's random ones:
    # the app invokes its workers by name (FUNCTION_PREFIX + name, chalicelib/jobs/invoke.py).
    public = {env: {"Ref": parameter} for parameter, env in PARAMETER_ENVIRONMENT.items()}
    build_worker = stage.function(BUILD_WORKER)
    overrides: dict[str, Any] = {}
    for function in stage.functions:
        properties: dict[str, Any] = {"FunctionName": function.function_name, "Runtime": RUNTIME}
        # Bucket names are global: every function reads the stage's publish bucket from its environment,
        # and where its outputs are served from (the distribution in front of it).
        variables: dict[str, Any] = {
            "PUBLISH_BUCKET": {"Ref": PUBLISH_BUCKET},
            "PREVIEW_BASE_URL": {"Fn::Sub": "https://${" + DISTRIBUTION + ".DomainName}/preview"},
            "PUBLISH_BASE_URL": {"Fn::Sub": "https://${" + DISTRIBUTION + ".DomainName}/publish"},
        }
        if build_worker is not None:
            # A job's deadline is its worker's timeout: past it, the worker is gone and the job overdue.
            variables["BUILD_TIMEOUT_SECONDS"] = str(build_worker.timeout)
        for kind in sorted(function.access.secrets):
            logical_id, variable = SECRETS[kind]
            variables[variable] = {"Ref": logical_id}  # the ARN: the value itself never sits in the environment
        if function.logical_id in PUBLIC_URL_FUNCTIONS:
            variables.update(public)
        properties["Environment"] = {"Variables": variables}
        overrides[function.logical_id] = {"Properties": properties}
    return overrides


def log_group_overrides(stage: Stage) -> dict[str, Any]:
    # Chalice 1.34 names a log group after the function's first logical id: the API handler's
    # becomes "/aws/lambda/${ApiHandler}", a resource that does not exist once it is renamed APIHandler.
    # Logs outlive the stack (an audit trail); log_retention_in_days still expires them.
    return {
        f.log_group: {
            **RETAINED,
            "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${" + f.logical_id + "}"}},
        }
        for f in stage.functions
        if f.log_group
    }


def api_overrides(stage: Stage) -> dict[str, Any]:
    # Any OpenApiVersion stops SAM from also deploying the API to a stage named "Stage" (the API would
    # answer under /Stage/ too); "2.0" leaves Chalice's Swagger 2.0 document as it is.
    return {"RestAPI": {"Properties": {"OpenApiVersion": "2.0"}}}
