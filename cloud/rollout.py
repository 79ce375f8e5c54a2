"""
Roll a model out: channels, canary cohorts, promotion and rollback
==================================================================

::

    python cloud/rollout.py canary VERSION --percent 5 --s3 s3://bucket/prod/ --signing-key K
    python cloud/rollout.py status  --s3 s3://bucket/prod/ --signing-key K   # JSON + verdict
    python cloud/rollout.py promote --s3 s3://bucket/prod/ --signing-key K   # refused unless
    python cloud/rollout.py rollback --s3 s3://bucket/prod/ --signing-key K  # status says so
    python cloud/rollout.py watch   --s3 s3://bucket/prod/ --signing-key K   # status, and roll
                                                                             # back on failure

The pointers (``channels/stable.json``, ``channels/canary.json``) are signed with the
model-signing key (``--signing-key`` or ``$FIREDETECT_SIGNING_KEY``); see docs/fleet.md for
the cohorts, the promotion rules (``cloud/fleet/summaries.py``) and the automatic rollback.
Exit status: 0 done (``status``/``watch``: verdict printed), 1 refused by the rules, 2 error.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import logging
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cloud.artifact.s3 import parse_s3_url, s3_client
from cloud.artifact.signing import load_private_key
from cloud.fleet.channels import ChannelError, Channels
from cloud.fleet.summaries import Assessment, assess, read_summaries

log = logging.getLogger("cloud.rollout")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rollout.py", description=__doc__.split("::")[0].strip(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["status", "canary", "promote", "rollback", "watch"])
    p.add_argument("version", nargs="?", help="canary: the published version to canary")
    p.add_argument("--s3", required=True, help="the model prefix, s3://bucket/prefix/")
    p.add_argument("--s3-endpoint-url", help="an S3-compatible endpoint (AWS when unset)")
    p.add_argument("--signing-key", type=Path,
                   help="model-signing key (PEM); else $FIREDETECT_SIGNING_KEY")
    p.add_argument("--percent", type=float, help="canary: the share of the fleet, 0 < P <= 100")
    p.add_argument("--to", help="rollback: point stable back at this older published version")
    p.add_argument("--days", type=int, default=7, help="summaries of the last N days (7)")
    p.add_argument("--min-device-days", type=int, default=20,
                   help="canary device-days needed before promotion (20)")
    p.add_argument("--force", action="store_true", help="promote although status refuses")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def _status(ch: Channels, args: argparse.Namespace) -> tuple[Assessment, dict[str, Any]]:
    stable, canary = ch.read("stable"), ch.read("canary")
    docs = read_summaries(ch.s3, ch.bucket, ch.prefix, args.days)
    a = assess(docs, stable.pointer.version if stable else None,
               canary.pointer.version if canary else None,
               min_device_days=args.min_device_days)
    doc = {"stable": stable.pointer.version if stable else None,
           "canary": None if canary is None else {"version": canary.pointer.version,
                                                  "percent": canary.percent},
           "summaries": len(docs), **a.as_dict()}
    return a, doc


def run(args: argparse.Namespace) -> int:
    """Run one command; return the exit status."""
    bucket, prefix = parse_s3_url(args.s3)
    key = load_private_key(args.signing_key)
    ch = Channels(s3_client(args.s3_endpoint_url), bucket, prefix, key)
    if args.command == "canary":
        if not args.version or args.percent is None:
            raise ChannelError("canary needs VERSION and --percent P")
        ch.set_canary(args.version, args.percent)
        print(f"canary: {args.version} at {args.percent:g} %")
        return 0
    if args.command == "rollback":
        print(f"rolled back: stable {ch.rollback(args.to)}, canary withdrawn")
        return 0
    a, doc = _status(ch, args)
    if args.command == "promote":
        if a.verdict != "promote" and not args.force:
            print(json.dumps(doc, indent=2))
            print(f"rollout.py: promotion refused ({a.verdict}): {'; '.join(a.reasons)}",
                  file=sys.stderr)
            return 1
        print(f"promoted: stable {ch.promote()}")
        return 0
    if args.command == "watch" and a.verdict == "rollback":
        doc["rolled_back_to"] = ch.rollback()
        log.warning("canary rolled back automatically: %s", "; ".join(a.reasons))
    print(json.dumps(doc, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose == 0 else logging.INFO,
                        stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except (ChannelError, ValueError) as exc:
        print(f"rollout.py: error: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"rollout.py: error: the store: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
