"""``gh`` on the operator's side: ``workflow run`` and ``run list``; nothing is sent to GitHub."""

from __future__ import annotations

import sys

from .host import TAG


def gh(args: list[str]) -> int:
    if args[:2] == ["workflow", "run"] and len(args) > 2:
        ref = (
            args[args.index("--ref") + 1]
            if "--ref" in args and args.index("--ref") + 1 < len(args)
            else "main"
        )
        print(f"✓ Created workflow_dispatch event for {args[2]} at {ref}")
        print(f"{TAG} gh stand-in: nothing was sent to GitHub")
        return 0
    if args[:2] == ["run", "list"]:
        workflow = next(
            (a.split("=", 1)[1] for a in args if a.startswith("--workflow=")), "deploy-staging.yml"
        )
        print(
            "STATUS  TITLE                     WORKFLOW            BRANCH   EVENT              ID          ELAPSED  AGE"
        )
        print(
            f"✓       chore(release): 1.2.3 ({TAG})  {workflow}  develop  workflow_dispatch  1000000001  2m41s    less than a minute ago"
        )
        return 0
    print(
        f"{TAG} gh stand-in: only 'gh workflow run' and 'gh run list' are supported",
        file=sys.stderr,
    )
    return 1
