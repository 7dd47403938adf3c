"""``cryopick <program> [RELION flags]``: drop-in front ends for RELION's programs."""

from __future__ import annotations

import importlib
import logging
import sys

from cryopick.errors import InputError

__all__ = ["main"]


# program name -> module under cryopick.cli; imported only when asked for (start-up time)
PROGRAMS = ("autopick", "repick", "preprocess", "refine", "review", "watch")


def _program(name: str):
    return importlib.import_module(f"cryopick.cli.{name}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cryopick`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in PROGRAMS:
        print("usage: cryopick {" + ",".join(PROGRAMS) + "} [RELION-style flags]\n"
              "  autopick   relion_autopick (LoG or template picking)\n"
              "  repick     re-pick from saved FOM maps; --sweep thresholds\n"
              "  preprocess relion_preprocess --extract (particle extraction)\n"
              "  refine     relion_refine 2D classification (--K classes)\n"
              "  review     the browser review page of a finished run (Review/index.html)\n"
              "  watch      rerun the workflow as micrographs arrive (--project --configfile)\n"
              "Run `cryopick <program> --help` for its flags.", file=sys.stderr)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    module = _program(argv[0])
    parser = module.build_parser()
    args = parser.parse_args(argv[1:])
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    try:
        module.run(args)
    except InputError as err:
        logging.getLogger("cryopick").error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
