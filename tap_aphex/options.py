"""`tap-aphex`'s options as the SDK's click command calls them back: `--config` files and
variables (secrets hidden as each is read), `--state` and `--catalog` files named in their checks,
`--test` and `--discover` checked as a sync is; `TapAphex` is made, and run, from them."""

from __future__ import annotations

import logging
import os
import typing as t

import click
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_aphex import inputs, settings
from tap_aphex.decoding import first_few, listed, readable
from tap_aphex.logs import log_level_problem
from tap_aphex.report import ConfigError
from tap_aphex.sdk_seam import (
    CLI_TEST_ALL,
    CLI_TEST_VALUES,
    SeamTap,
    config_input,
    load_env_file,
)
from tap_aphex.settings import remember_config_secrets

if t.TYPE_CHECKING:
    from tap_aphex.tap import TapAphex

#: The SDK's documented convention for settings in the environment: TAP_APHEX_<SETTING>.
ENV_PREFIX = "TAP_APHEX_"


class TapOptions(SeamTap):
    """The SDK's `Tap` with its command-line callbacks as `tap-aphex` reads its options."""

    @classmethod
    @override
    def invoke(
        cls,
        *,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
        **kwargs: t.Any,
    ) -> None:
        """The SDK's `Tap.invoke`, with `run` (summary, failures) in place of a bare `sync_all`."""
        super(Tap, cls).invoke(**kwargs)  # `--about`: the SDK's
        cls.print_version(print_fn=cls.logger.info)
        state_read = _read_file(state, "state")
        context = click.get_current_context(silent=True)
        if context is not None and context.meta.get(_CONNECTION_TEST):
            # The SDK's test reads every stream the config enables (`cli` says a catalog is unread).
            cls.from_cli(config, **state_read).test_connection()
            return
        cls.from_cli(config, **state_read, **_read_file(catalog, "catalog")).run()

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Read ``--config`` files ourselves, so an unreadable one is one line naming it."""
        config: dict[str, t.Any] = {}
        parse_env = "ENV" in value
        # Every source's key and tokens are hidden from the moment it is read: the next files,
        # the state and the catalog are read before the tap is made (and can be named with one).
        if parse_env:
            env_file()  # its values first: a file named in a message may hold its key
        environ = os.environ if parse_env else {}  # its secrets only: the tap reads the rest
        sources = [settings.read_env(cls.config_jsonschema, ENV_PREFIX, environ).secrets]
        remember_config_secrets(*sources)
        for path in (path for path in value if path != "ENV"):
            sources.append(inputs.read_json_object(path, "config"))
            config |= sources[-1]
            remember_config_secrets(*sources)
        return config_input(config, parse_env=parse_env)

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``: as the SDK's, but a stream that failed fails the test with its message,
        and a value the SDK does not know is refused (it would run a test whose failure exits 0)."""
        if value not in CLI_TEST_VALUES:  # all, schema, disabled: `test_sdk_seam` pins them
            raise click.BadParameter(
                "must be `all` (as a bare `--test`: one record per stream), `schema` (the SCHEMA "
                f"messages only) or `disabled` (no test), not {readable(repr(value), 40)}."
            )
        if value != CLI_TEST_ALL:
            super().cb_test(ctx, param, value)
            return
        # Run by `invoke`, which has `--state` and `--catalog` (click may not have read them yet):
        # the test reads from where a sync would, so the STATE it writes points past that record.
        ctx.meta[_CONNECTION_TEST] = True

    @classmethod
    @override
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """As the SDK's, but refusing a config a sync would (the SDK's skips validation for a
        static catalog); one enabling no stream gives an empty catalog."""
        if not value:
            return
        cls.from_cli(ctx.params.get("config"), discovery=True).run_discovery()  # maps checked too
        ctx.exit()

    @classmethod
    def from_cli(cls, config: t.Any, **kwargs: t.Any) -> TapAphex:
        """A tap from ``--config``'s input; its config problems on one line (the SDK: one each)."""
        config = config or config_input({}, parse_env=False)
        try:
            return t.cast("type[TapAphex]", cls)(  # the one subclass
                config=config.config, parse_env_config=config.parse_env, command_line=True, **kwargs
            )
        except ConfigValidationError as error:
            raise ConfigError("Config: " + inputs.joined(error.errors or [str(error)])) from None


def _read_file(file: t.IO[str] | None, what: str) -> dict[str, t.Any]:
    """`TapAphex`'s arguments for a `--state` or `--catalog` file: its object and its name."""
    if file is None:
        return {}
    return {what: inputs.read_json_object(file, what), f"{what}_name": getattr(file, "name", what)}


#: `ctx.meta`'s flag: a bare `--test` was given (`cb_test`), so `invoke` tests, not syncs.
_CONNECTION_TEST = "tap_aphex.connection_test"


#: Read by the log as the command starts: a `.env` file sets them too late to apply.
LOG_VARIABLES = ("LOGLEVEL", "TAP_APHEX_LOGLEVEL", "SINGER_SDK_LOG_CONFIG")


def env_file(logger: logging.Logger | None = None) -> list[str]:
    """Load the `.env` file the SDK loads under `--config ENV` (`sdk_seam.load_env_file`), before
    any value is checked or secret remembered; with ``logger``, say what it set (names only)."""
    try:
        path, statements, unparsed = load_env_file()
    except UnicodeDecodeError as error:  # python-dotenv reads it as UTF-8
        raise ConfigError(
            "Config: `--config ENV`: the `.env` file the SDK loads is not UTF-8 text "
            f"({error.reason} at byte {error.start}): save it as UTF-8, or remove it "
            "(docs/settings.md)."
        ) from None
    except OSError as error:  # found, but not readable by the tap's user
        named = error.filename or "the SDK loads"  # none when a read, not the opening, failed
        raise ConfigError(
            f"Config: `--config ENV`: the `.env` file {named} cannot be read ({error.strerror}): "
            "let the tap's user read it, or remove it (docs/settings.md)."
        ) from None
    values = dict(statements)  # python-dotenv's: the last of a name is set
    twice = sorted(_set_twice([(name, value) for name, value in statements if value is not None]))
    if twice:
        raise ConfigError(  # as a key twice in a config file: which one was meant is unknown
            f"Config: `--config ENV`: the `.env` file {path} sets {first_few(twice)} "
            "twice, to different values (python-dotenv would keep the last without a word): keep "
            "one."
        )
    if logger and unparsed:  # python-dotenv's own warning, at each load, names no file
        logger.warning(
            "`--config ENV`: python-dotenv cannot read %s of the `.env` file %s, and skips %s: "
            "a variable set there is not set. Write each as NAME=value (a quoted value needs its "
            "closing quote).",
            f"line{'s' if unparsed[1:] else ''} {listed([str(line) for line in unparsed])}",
            path,
            "them" if unparsed[1:] else "it",
        )
    names = sorted(name for name, value in values.items() if value is not None)
    late = [f"`{name}`" for name in names if name in LOG_VARIABLES]
    if late and (problem := log_level_problem(os.environ)):  # the SDK's metrics would fail on it
        raise ConfigError(f"Config: {problem[:-1]} (set by a `.env` file).")
    if logger and names:
        named = listed([f"`{name}`" for name in names])
        logger.info(
            "`--config ENV`: %s set by a `.env` file (the SDK loads python-dotenv's: "
            "docs/settings.md).",
            named,
        )
        if late:
            logger.warning(
                "%s, set by a `.env` file, comes too late for the log, which is set up before the "
                "file is read (the METRIC lines alone follow it): set it in the environment.",
                listed(late),
            )
    return names


def _set_twice(statements: list[tuple[str, str]]) -> set[str]:
    """The variables the tap reads (`TAP_APHEX_*` but Meltano's `TAP_APHEX__*`, the log's) that a
    `.env` file sets to another value than the line before, unless that line builds on it
    (`${NAME}`, `${NAME:-...}`): which was meant is unknown. Another program's are its own."""
    before: dict[str, str] = {}
    twice = set()
    for name, value in statements:
        ours = name.startswith(ENV_PREFIX) and not name.startswith(f"{ENV_PREFIX}_")
        changed = before.get(name, value) != value and "${" + name not in value
        if changed and (ours or name in LOG_VARIABLES):
            twice.add(f"`{name}`")
        before[name] = value
    return twice
