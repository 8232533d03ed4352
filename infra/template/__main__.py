"""``python -m infra.template --stage STAGE [--finish DIR]``: print the fragment, or check chalice package's output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import infra.template
from infra.template.finish import finish
from infra.template.fragment import build
from infra.template.stage import TemplateError, load_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.template", description=(infra.template.__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--stage", required=True, help="a stage of .chalice/config.json")
    parser.add_argument("--finish", metavar="DIR", type=Path, help="check the output of chalice package in DIR")
    args = parser.parse_args(argv)
    try:
        stage = load_stage(args.stage)
        if args.finish is None:
            json.dump(build(stage), sys.stdout, indent=2, sort_keys=True)
            sys.stdout.write("\n")
            return 0
        problems = finish(stage, args.finish)
    except TemplateError as e:
        print(f"infra.template: {e}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"infra.template: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
