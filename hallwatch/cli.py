"""The `hallwatch` command: check-config, analyze, serve, demo, user, case-source."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from hallwatch.config import ConfigError, calendar_notices, data_dir_of, load_site, site_years
from hallwatch.config_analysis import CropMode

log = logging.getLogger("hallwatch")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2


def cmd_check_config(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        site = load_site(path)
    except ConfigError as error:
        print(error, file=sys.stderr)  # one located line per problem
        print(f"{path}: {len(error.problems)} problem(s)", file=sys.stderr)
        return EXIT_INVALID
    print(
        f"{path}: OK: {len(site.halls)} hall(s), {len(site.cameras)} camera(s),"
        f" {len(site.windows)} window(s)"
    )
    for notice in calendar_notices(site, site_years(site, time.time())):
        print(f"{path}: notice: {notice}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    from hallwatch.analyze_cli import run_analyze

    return run_analyze(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from hallwatch.serve import serve

    return serve(Path(args.config), host=args.host, port=args.port, data_dir=args.data_dir)


DEMO_FILES = ("one-by-one-person-detection.mp4", "ATTRIBUTION.txt")


def demo_config(data_dir: Path) -> Path:
    """The demo's cameras.yaml in its data directory: copied from the package on the first run
    (with the footage it names beside it), so that the console's config editor never writes
    into the installed package; later runs keep the edited copy."""
    data_dir.mkdir(parents=True, exist_ok=True)
    package = resources.files("hallwatch") / "demo"
    for name in DEMO_FILES:
        if not (data_dir / name).exists():
            (data_dir / name).write_bytes((package / name).read_bytes())
    config = data_dir / "cameras.yaml"
    if not config.exists():
        config.write_text((package / "demo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return config


def cmd_demo(args: argparse.Namespace) -> int:
    from hallwatch.serve import serve

    config = demo_config(Path(args.data_dir))
    return serve(
        config,
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir),
        reset_admin=True,
        demo_cases=True,
    )


def cmd_user(args: argparse.Namespace) -> int:
    from console.auth import Role, ensure_user
    from hallwatch.store import Store

    site = load_site(Path(args.config))
    data_dir = Path(args.data_dir) if args.data_dir else data_dir_of(site, Path(args.config))
    store = Store(data_dir / "hallwatch.db")
    password = ensure_user(store, args.username, Role(args.role))
    store.audit(None, "user_set", args.username, role=args.role)
    print(json.dumps({"username": args.username, "role": args.role, "password": password}))
    return EXIT_OK


def cmd_case_source(args: argparse.Namespace) -> int:
    from cases.store import Sources
    from hallwatch.cases_setup import open_case_database
    from hallwatch.store import Store

    site = load_site(Path(args.config))
    data_dir = Path(args.data_dir) if args.data_dir else data_dir_of(site, Path(args.config))
    db = open_case_database(site, data_dir)
    sources = Sources(db)
    if args.action == "list":
        print(json.dumps({"sources": sources.names()}, ensure_ascii=False))
        return EXIT_OK
    if not args.name:
        print("hallwatch case-source add: give the source system's NAME", file=sys.stderr)
        return EXIT_INVALID
    key = sources.add(args.name)
    Store(data_dir / "hallwatch.db").audit(None, "case_source_key_issued", args.name)
    print(json.dumps({"source": args.name, "api_key": key}, ensure_ascii=False))
    return EXIT_OK


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="recorded video file")
    parser.add_argument("--config", type=Path, help="cameras.yaml with windows and thresholds")
    parser.add_argument("--camera", help="camera id in --config whose windows to analyse")
    parser.add_argument("--fps", type=float, default=1.0, help="frames analysed per second")
    parser.add_argument("--staff-zone", help='ad hoc window W01: "x,y x,y x,y ..." (0-1)')
    parser.add_argument("--queue-zone", help="ad hoc window W01's queue zone polygon")
    parser.add_argument("--staff-on-duty", type=int, help="staff expected (default 1)")
    parser.add_argument("--absence-delay", type=float, help="seconds absent before an event")
    parser.add_argument("--return-delay", type=float, help="seconds back before the event ends")
    parser.add_argument("--respect-schedule", action="store_true", help="apply service hours")
    parser.add_argument("--start-time", help="ISO wall-clock time of the first frame (schedule)")
    parser.add_argument("--threads", type=int, default=None, help="detector threads")
    parser.add_argument("--score", type=float, default=None, help="detector score threshold")
    parser.add_argument(
        "--crops", choices=[mode.value for mode in CropMode], help="detector on zone crops or frame"
    )
    parser.add_argument(
        "--no-motion-gate", action="store_true", help="run the detector on every sampled frame"
    )


def cmd_verify_export(args: argparse.Namespace) -> int:
    from hallwatch.verify_cli import run_verify

    return run_verify(Path(args.dir), Path(args.key) if args.key else None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hallwatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check-config", help="validate a cameras.yaml")
    check.add_argument("file", nargs="?", default="cameras.yaml")
    check.set_defaults(func=cmd_check_config)

    analyze = sub.add_parser("analyze", help="analyse a recorded video file, print JSON lines")
    add_analyze_arguments(analyze)
    analyze.set_defaults(func=cmd_analyze)

    for name, helptext in (("serve", "run the pipeline and console"), ("demo", "run the demo")):
        command = sub.add_parser(name, help=helptext)
        if name == "serve":
            command.add_argument("--config", default="cameras.yaml")
            command.add_argument("--data-dir", type=Path, default=None)
            command.set_defaults(func=cmd_serve)
        else:
            command.add_argument("--data-dir", default="var/demo")
            command.set_defaults(func=cmd_demo)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=8080)

    verify = sub.add_parser("verify-export", help="check an evidence export's files and signature")
    verify.add_argument("dir", help="the export folder (video.mp4, manifest.json, manifest.sig)")
    verify.add_argument("--key", help="the site key file (default: var/site.key)")
    verify.set_defaults(func=cmd_verify_export)

    user = sub.add_parser("user", help="create a user or reset a password (prints it)")
    user.add_argument("username")
    roles = ["admin", "operator", "inspector", "auditor"]  # console.auth.Role, not imported here
    user.add_argument("--role", choices=roles, default="operator")
    user.add_argument("--config", default="cameras.yaml")
    user.add_argument("--data-dir", default=None)
    user.set_defaults(func=cmd_user)

    source = sub.add_parser(
        "case-source", help="approval systems allowed to send cases: add one (prints its API"
        " key, once; adding again replaces the key) or list them"
    )  # fmt: skip
    source.add_argument("action", choices=["add", "list"])
    source.add_argument("name", nargs="?", help="the source system's name, e.g. 省政务服务平台")
    source.add_argument("--config", default="cameras.yaml")
    source.add_argument("--data-dir", default=None)
    source.set_defaults(func=cmd_case_source)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from analyzers.detector import ModelError

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.func(args)
    except ConfigError as error:
        print(error, file=sys.stderr)  # one located line per problem
        return EXIT_INVALID
    except ModelError as error:  # a wrong model file or layout: say which and what was expected
        print(f"hallwatch: detector: {error}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
