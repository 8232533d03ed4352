"""Asynchronous invocations (retry limits, an on-failure queue) and the stack's alarms."""

from __future__ import annotations

from typing import Any

from infra.template.names import ALARM_TOPIC, FAILURE_QUEUE
from infra.template.stage import Stage

# Asynchronous invocations of the @app.lambda_function workers: (retries, maximum event age in seconds).
# Each handler is safe to run twice (docs/deploy.md); what still fails goes to the failure queue.
ASYNC_DEFAULT = (1, 3600)
# A refresh_worker event older than one sweep period is worthless: the next sweep reads the due index again.
ASYNC = {"build_worker": (1, 3600), "ws_open": (1, 60), "ws_push": (1, 300), "refresh_worker": (1, 300)}


# chalicelib/jobs/refresh_sweep.py ends each run with "refresh sweep: {..., 'failed': N, ...}": a run whose
# line does not say "'failed': 0," had failures (a CloudWatch Logs filter pattern: terms, "-" excludes).
REFRESH_FAILURE_PATTERN = '"refresh sweep" -"\'failed\': 0,"'


ALARM_PARAMETERS: dict[str, dict[str, Any]] = {
    "AlarmEmail": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^([^@\\s]+@[^@\\s]+)?$",
        "Description": "Where the stack's alarms are mailed (a subscription to confirm); empty for none.",
    },
}


def async_resources(stage: Stage) -> dict[str, Any]:
    """Retry limits and an on-failure queue for the workers the app invokes asynchronously, alarmed."""
    workers = [f for f in stage.functions if f.invoked_by_app]
    if not workers:
        return {}
    resources: dict[str, Any] = {
        FAILURE_QUEUE: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"MessageRetentionPeriod": 14 * 86400, "SqsManagedSseEnabled": True},
        },
        "AsyncFailureAlarm": _alarm(
            f"keyport-{stage.name}: an asynchronous invocation failed after its retries (see the queue)",
            {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [FAILURE_QUEUE, "QueueName"]}}],
                "Statistic": "Maximum",
            },
            threshold=1,
        ),
    }
    for function in workers:
        retries, age = ASYNC.get(function.name, ASYNC_DEFAULT)
        resources[function.logical_id + "InvokeConfig"] = {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": {"Ref": function.logical_id},
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": retries,
                "MaximumEventAgeInSeconds": age,
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [FAILURE_QUEUE, "Arn"]}}},
            },
        }
    return resources


def _alarm(description: str, metric: dict[str, Any], *, threshold: float, period: int = 300) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            **metric,
            **({} if "Metrics" in metric else {"Period": period}),
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": ALARM_TOPIC}],
            "OKActions": [{"Ref": ALARM_TOPIC}],
        },
    }


def alarm_resources(stage: Stage) -> dict[str, Any]:
    """Where alarms go (a topic to subscribe to), and the alarms on refresh failures and 5xx answers."""
    resources: dict[str, Any] = {
        ALARM_TOPIC: {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "DisplayName": f"Keyport {stage.name} alarms",
                "KmsMasterKeyId": "alias/aws/sns",
            },
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {"TopicArn": {"Ref": ALARM_TOPIC}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}},
        },
        "ServerErrorAlarm": _alarm(
            f"keyport-{stage.name}: the REST API answered 5xx to more than 5 % of requests",
            {
                "Metrics": [
                    {"Id": "errors", "ReturnData": False, "MetricStat": _api_metric("5XXError", "Sum")},
                    {"Id": "requests", "ReturnData": False, "MetricStat": _api_metric("Count", "Sum")},
                    {"Id": "rate", "Expression": "IF(requests >= 20, 100 * errors / requests, 0)", "ReturnData": True},
                ]
            },
            threshold=5,
        ),
    }
    # chalicelib/jobs/refresh_sweep.py (a worker's run) and refresh_fanout.py (the coordinator's hand-off) log
    # "refresh sweep: ... N failed ..." at the end of every run: one filter per log group, one metric.
    namespace = f"Keyport/{stage.name}"
    filters = {"RefreshFailureMetricFilter": "refresh_sweep", "RefreshWorkerFailureMetricFilter": "refresh_worker"}
    for logical_id, name in filters.items():
        sweep = stage.function(name)
        if sweep is None or not sweep.log_group:
            continue
        resources[logical_id] = {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": sweep.log_group},
                "FilterPattern": REFRESH_FAILURE_PATTERN,
                "MetricTransformations": [
                    {"MetricNamespace": namespace, "MetricName": "RefreshFailures", "MetricValue": "1", "Unit": "Count"}
                ],
            },
        }
    if "RefreshFailureMetricFilter" in resources:
        resources["RefreshFailureAlarm"] = _alarm(
            f"keyport-{stage.name}: stored credentials failed to refresh (see the refresh_worker log group)",
            {"Namespace": namespace, "MetricName": "RefreshFailures", "Statistic": "Sum"},
            threshold=1,
        )
    return resources


def _api_metric(name: str, statistic: str) -> dict[str, Any]:
    dimensions = [{"Name": "ApiName", "Value": "keyport"}, {"Name": "Stage", "Value": "api"}]
    metric = {"Namespace": "AWS/ApiGateway", "MetricName": name, "Dimensions": dimensions}
    return {"Metric": metric, "Period": 300, "Stat": statistic}
