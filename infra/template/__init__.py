"""The CloudFormation resources merged into ``chalice package``: tables, KMS key, access policy, parameters.

    python -m infra.template --stage dev > build/resources-dev.json    # the fragment to merge
    python -m infra.template --stage dev --finish build/dev            # after chalice package: check it

Nothing here is listed by hand. The tables come from the PynamoDB models (``aws.all_models()``), their
names from the settings that the stage's Lambda environment (``.chalice/config.json``) produces, and the
functions, roles and log groups from Chalice's own application graph, named as Chalice names them in
``sam.json``. ``chalice package --merge-template`` merges dicts deeply and replaces everything else
(lists included), which is what the overrides below rely on.

IAM: every Chalice role's inline policy (``.chalice/policy-lambda.json``, a deny-all placeholder that
Chalice requires) is replaced by nothing, and each role gets its own policy (an ``AWS::IAM::Policy``,
``<Role>Policy``) with what its function's code reaches (:mod:`infra.access`): the tables of the models
it names, the key, the bucket, the secrets, the workers it invokes, the websocket connections. Being a
separate resource, it may name the functions themselves (``lambda:InvokeFunction``) and the key may name
the roles, without a dependency cycle. To grant something new, add a statement builder to
:data:`~infra.template.policies.STATEMENTS` (and teach :mod:`infra.access` to see its use) and, if it
creates resources, a resource builder to :data:`~infra.template.fragment.RESOURCES`.

Retry-safe: everything that keeps data (tables, key, bucket, log groups) is retained on delete and on
replacement, except when the stack's creation fails (``RetainExceptOnCreate``), so a failed first deploy
leaves nothing behind that would make the next one fail with "already exists".

Functions keep Chalice's names (keyport-STAGE[-name]) because the app invokes its workers by name.

One module per concern:

* ``names``: logical ids and shared values; ``stage``: what the template is derived from (:func:`load_stage`)
* ``tables``: DynamoDB; ``keys``: the KMS key and the Secrets Manager secrets
* ``policies``: one IAM policy per function role; ``functions``: function, log group and REST API overrides
* ``alarms``: asynchronous invocations and alarms; ``cdn``: the publishing bucket and its distribution
* ``checkov``: the checks skipped on purpose; ``fragment``: every builder together, parameters and outputs
* ``finish``: the checks after ``chalice package``; ``__main__``: the command line
"""

from infra.template.alarms import REFRESH_FAILURE_PATTERN
from infra.template.checkov import CHECKOV_SKIPS
from infra.template.finish import TEMPLATE_SIZE_LIMIT, finish, redeploy_websocket_on_change
from infra.template.fragment import RESOURCES, build, generate
from infra.template.keys import KEY_ACTIONS
from infra.template.names import (
    ALARM_TOPIC,
    DISTRIBUTION,
    FAILURE_QUEUE,
    HASH_KEY_SECRET,
    KEY,
    KEY_ALIAS,
    OPERATOR_SECRET,
    PROJECT_DIR,
    PUBLISH_BUCKET,
    RUNTIME,
)
from infra.template.policies import POLICY_SIZE_LIMIT, STATEMENTS, TABLE_ACTIONS, function_policy, policy_size
from infra.template.stage import Function, Stage, Table, TemplateError, load_stage
from infra.template.tables import table_properties, ttl_attribute

__all__ = [
    "ALARM_TOPIC",
    "CHECKOV_SKIPS",
    "DISTRIBUTION",
    "FAILURE_QUEUE",
    "HASH_KEY_SECRET",
    "KEY",
    "KEY_ACTIONS",
    "KEY_ALIAS",
    "OPERATOR_SECRET",
    "POLICY_SIZE_LIMIT",
    "PROJECT_DIR",
    "PUBLISH_BUCKET",
    "REFRESH_FAILURE_PATTERN",
    "RESOURCES",
    "RUNTIME",
    "STATEMENTS",
    "TABLE_ACTIONS",
    "TEMPLATE_SIZE_LIMIT",
    "Function",
    "Stage",
    "Table",
    "TemplateError",
    "build",
    "finish",
    "function_policy",
    "generate",
    "load_stage",
    "policy_size",
    "redeploy_websocket_on_change",
    "table_properties",
    "ttl_attribute",
]
