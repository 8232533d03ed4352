"""Autotune's account tasks on the command line, against DynamoDB directly (AWS or the local stack).

    python -m chalicelib.publishing.cli create_superuser autobot@example.com [--name autobot_machine]
    python -m chalicelib.publishing.cli get_api_key autobot@example.com

It reads the same settings as the app (STAGE, TABLE_PREFIX, AWS_REGION, AWS credentials, and
AWS_ENDPOINT_URL for an emulator); ``--stage``, ``--region`` and ``--endpoint-url`` set them here.
Against ``make run``'s stack: ``--stage local --endpoint-url <the "AWS (moto)" URL it printed>``.

Keys are stored only as hashes, so ``get_api_key`` cannot show an existing key: it issues a new
one (the previous key stops working), and says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.publishing.cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", help="Keyport stage (table prefix keyport-<stage>); default: $STAGE or dev")
    parser.add_argument("--region", help="AWS region; default: $AWS_REGION")
    parser.add_argument("--endpoint-url", help="AWS endpoint of an emulator, e.g. the local stack's moto URL")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create_superuser", help="create a superuser and print their API key")
    create.add_argument("email")
    create.add_argument("--name", help="display name (default: the part of the email before @)")
    key = commands.add_parser("get_api_key", help="issue a new API key for a user and print it")
    key.add_argument("email")
    return parser


def _configure(args: argparse.Namespace) -> None:
    """Apply the command-line options to the environment the settings are read from."""
    if not (args.stage or args.region or args.endpoint_url):
        return
    if args.stage:
        os.environ["STAGE"] = args.stage
    if args.region:
        os.environ["AWS_REGION"] = args.region
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
        # An emulator accepts any credentials; AWS's resolver still wants some.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    # Here, after the environment is set: the models bind to the settings when they are first imported.
    from chalicelib import aws
    from chalicelib.settings import clear_settings

    clear_settings()
    aws.reset()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one task; 0 on success, 1 when it could not be done (the reason goes to stderr)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    _configure(args)
    # Only now, once _configure has set the environment the models bind to.
    from chalicelib.errors import KeyportError
    from chalicelib.publishing import accounts

    try:
        if args.command == "create_superuser":
            user = accounts.create_user({"email": args.email, "name": args.name, "superuser": True})
            out.write(f"Superuser with name '{user['name']}' and email '{user['email']}':\n")
        else:
            user = accounts.rotate_key(args.email)
            out.write(f"Account with name '{user['name']}' and email '{user['email']}':\n")
    except KeyportError as e:
        hint = " Run get_api_key to issue a new key." if isinstance(e, accounts.EmailTaken) else ""
        print(f"error: {e.message}{hint}", file=sys.stderr)
        return 1
    out.write(f"User ID: {user['id']}\nAPI key: {user['api_key']}\n")
    if args.command == "get_api_key":
        out.write(f"Note: {accounts.ROTATION_NOTE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
